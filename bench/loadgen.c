// Load generator for bench/run.mjs, in C: the same scenarios, checks and result fields as
// bench/loadgen.mjs (except permessage-deflate, which stays with the JS one), at a fraction of
// its CPU per message, so the server under test is the bottleneck, not this process.
//
//   cc -O2 -o loadgen bench/loadgen.c
//   ./loadgen '<json config>' KEY1 ACCEPT1 KEY2 ACCEPT2 ...
//
// The key / Sec-WebSocket-Accept pairs are computed by run.mjs (node:crypto), so no SHA-1 here.
// Progress and the result are JSON lines on stdout ({"type":"connected"}, "measure-start",
// "measure-end", "idle-ready", "result"); for the idle kind a line "finish" on stdin (or stdin's
// end) ends it. Design as in loadgen.mjs: every client frame is encoded and masked once, a send
// of k frames is one write of a prefix of a buffer of copies, every socket reads into one static
// buffer, echoed frames are counted by walking frame headers only (payloads skipped, never
// copied). One epoll loop, one thread, nothing allocated per message. Bounded: it exits by
// itself after the measurement or at hardDeadlineMs at the latest, and talks to 127.0.0.1 only.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// ---- output ---------------------------------------------------------------------------------

static char out[65536];
static size_t outLen;

static void put(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + outLen, sizeof out - outLen, fmt, ap);
  va_end(ap);
  if (n > 0) outLen += (size_t)n < sizeof out - outLen ? (size_t)n : sizeof out - outLen - 1;
}

/** A JSON string: latin1 bytes, control and non-ASCII bytes as \u00XX. */
static void putStr(const char *s) {
  put("\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') put("\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f) put("\\u%04x", *p);
    else put("%c", *p);
  }
  put("\"");
}

static void putNum(const char *key, double v) {
  if (isfinite(v)) put(",\"%s\":%.17g", key, v);
  else put(",\"%s\":null", key);
}

static void flushLine(void) {
  put("\n");
  size_t off = 0;
  while (off < outLen) {
    ssize_t w = write(1, out + off, outLen - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  outLen = 0;
}

static void emit(const char *type) {
  put("{\"type\":\"%s\"}", type);
  flushLine();
}

// ---- config ---------------------------------------------------------------------------------

static const char *cfgText;

/** The raw value after "key": in the (flat) config object, or NULL. */
static const char *cfgRaw(const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = cfgText;
  while ((p = strstr(p, pat)) != NULL) {
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p != ':') continue;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
  }
  return NULL;
}
static double cfgNum(const char *key, double dflt) {
  const char *v = cfgRaw(key);
  if (!v || strncmp(v, "null", 4) == 0) return dflt;
  char *end;
  double d = strtod(v, &end);
  return end == v ? dflt : d;
}
static bool cfgBool(const char *key) {
  const char *v = cfgRaw(key);
  return v && strncmp(v, "true", 4) == 0;
}
static void cfgStr(const char *key, char *dst, size_t cap, const char *dflt) {
  const char *v = cfgRaw(key);
  if (!v || *v != '"') {
    snprintf(dst, cap, "%s", dflt);
    return;
  }
  v++;
  size_t n = 0;
  while (v[n] && v[n] != '"' && n + 1 < cap) n++;
  memcpy(dst, v, n);
  dst[n] = 0;
}

static char KIND[16];
static char HOST[64];
static int PORT;
static bool MASKED_ECHO; // masked frames coming back are accepted only from the ceiling's TCP echo
static long long hardDeadlineMs;

// ---- clock, errors, finish ------------------------------------------------------------------

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t errors;
static char errorSamples[5][200];
static int nSamples;

static void noteError(const char *msg) {
  errors++;
  if (nSamples >= 5) return;
  for (int i = 0; i < nSamples; i++)
    if (strncmp(errorSamples[i], msg, sizeof errorSamples[i] - 1) == 0) return;
  snprintf(errorSamples[nSamples++], sizeof errorSamples[0], "%s", msg);
}

static void putErrors(void) {
  put(",\"errors\":%llu,\"errorSamples\":[", (unsigned long long)errors);
  for (int i = 0; i < nSamples; i++) {
    if (i) put(",");
    putStr(errorSamples[i]);
  }
  put("]");
}

static void fail(const char *msg) {
  put("{\"type\":\"result\",\"error\":");
  putStr(msg);
  put("}");
  flushLine();
  exit(0);
}

static const char *errName(int e) {
  switch (e) {
    case ECONNRESET: return "ECONNRESET";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNABORTED: return "ECONNABORTED";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return strerror(e);
  }
}

// ---- payloads and frames --------------------------------------------------------------------

typedef struct {
  uint32_t s;
} Prng;
/** xorshift32 as in loadgen.mjs (same bits: JS's int32 / uint32 views of one 32-bit value). */
static double prngNext(Prng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 17;
  r->s ^= r->s << 5;
  return r->s / 4294967296.0;
}

static const char *WORDS[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "user", "message",
  "hello", "world", "id", "type", "chat", "room", "alice", "bob", "carol", "price", "qty", "order", "status",
  "ok", "update", "delta", "value", "time", "seq"};
#define NWORDS ((int)(sizeof WORDS / sizeof WORDS[0]))

/** ASCII, JSON-ish text of exactly `size` bytes: the bytes loadgen.mjs's textPayload() makes. */
static uint8_t *textPayload(size_t size) {
  Prng r = {1};
  uint8_t *b = malloc(size + 128);
  size_t len = 0;
  unsigned n = 0;
  while (len < size) {
    const char *w1 = WORDS[(int)(prngNext(&r) * NWORDS)];
    const char *w2 = WORDS[(int)(prngNext(&r) * NWORDS)];
    int v = (int)(prngNext(&r) * 1e4);
    len += (size_t)sprintf((char *)b + len, "{\"id\":%u,\"t\":\"%s\",\"v\":\"%s %d\"},", n++, w1, w2, v);
  }
  return b;
}

/** Binary of exactly `size` bytes: loadgen.mjs's binaryPayload() (a noisy slow ramp). */
static uint8_t *binaryPayload(size_t size) {
  Prng r = {2};
  uint8_t *b = malloc(size ? size : 1);
  for (size_t i = 0; i < size; i++) b[i] = (uint8_t)((((uint32_t)i >> 6) & 0xf0) | (int)(prngNext(&r) * 16));
  return b;
}

static uint8_t MASK[4];

/** One client frame (FIN, masked with MASK); *outLen gets its length. */
static uint8_t *encodeFrame(int opcode, const uint8_t *payload, size_t len, size_t *frameLen) {
  size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
  uint8_t *buf = malloc(hl + 4 + len);
  buf[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) buf[1] = (uint8_t)(0x80 | len);
  else if (len < 65536) {
    buf[1] = 0x80 | 126;
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
  } else {
    buf[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) buf[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(buf + hl, MASK, 4);
  for (size_t i = 0; i < len; i++) buf[hl + 4 + i] = payload[i] ^ MASK[i & 3];
  *frameLen = hl + 4 + len;
  return buf;
}

/** `copies` copies of frame back to back: a send of k frames is one write of a prefix of it. */
static uint8_t *frameBatch(const uint8_t *frame, size_t frameLen, int copies) {
  uint8_t *b = malloc(frameLen * (size_t)copies);
  for (int i = 0; i < copies; i++) memcpy(b + frameLen * (size_t)i, frame, frameLen);
  return b;
}

static uint8_t *CLOSE_FRAME;
static size_t CLOSE_LEN;

// ---- handshake pool (from run.mjs) ----------------------------------------------------------

#define MAX_KEYS 64
static int nKeys;
static char *REQUESTS[MAX_KEYS];
static size_t REQUEST_LEN[MAX_KEYS];
static const char *ACCEPTS[MAX_KEYS];
static unsigned keyIndex;

// ---- frame scanner (headers only) -----------------------------------------------------------

static int headerLen(uint8_t b1) {
  int l = b1 & 0x7f;
  return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

static uint64_t frameLen(const uint8_t *h) {
  uint64_t len = h[1] & 0x7f;
  if (len == 126) len = (uint64_t)h[2] << 8 | h[3];
  else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
  }
  return len;
}

typedef struct {
  uint64_t rem; // payload bytes still to skip in the current frame
  int op;
  bool fin;
  uint8_t hdr[14];
  int hl; // bytes of a split header held in hdr
  bool closed;
  int closeCode;
  uint32_t control;
  int expOp;      // when set: data frames must have this opcode...
  int64_t expLen; // ...and unfragmented ones this payload length
  uint32_t bad;
  char *badSample;
} Scanner;

static int scEnd(Scanner *sc) {
  if (sc->op >= 0x8) {
    sc->control++;
    if (sc->op == 0x8) sc->closed = true;
    return 0;
  }
  return sc->fin ? 1 : 0;
}

/** The number of data messages (FIN data / continuation frames) completed in buf[0, n). */
static int scFeed(Scanner *sc, const uint8_t *buf, size_t n) {
  size_t i = 0;
  int done = 0;
  while (i < n) {
    if (sc->rem > 0) {
      size_t avail = n - i;
      if (avail < sc->rem) {
        sc->rem -= avail;
        return done;
      }
      i += sc->rem;
      sc->rem = 0;
      done += scEnd(sc);
      continue;
    }
    const uint8_t *h;
    if (sc->hl == 0 && n - i >= 2 && n - i >= (size_t)headerLen(buf[i + 1])) {
      h = buf + i;
      i += headerLen(buf[i + 1]);
    } else {
      // Header split across reads: gather it in sc->hdr.
      while (sc->hl < 2 && i < n) sc->hdr[sc->hl++] = buf[i++];
      if (sc->hl < 2) return done;
      int hlen = headerLen(sc->hdr[1]);
      while (sc->hl < hlen && i < n) sc->hdr[sc->hl++] = buf[i++];
      if (sc->hl < hlen) return done;
      h = sc->hdr;
      sc->hl = 0;
    }
    uint64_t len = frameLen(h);
    sc->op = h[0] & 0x0f;
    sc->fin = (h[0] & 0x80) != 0;
    if (sc->op == 0x8 && len >= 2 && n - i >= 2) sc->closeCode = buf[i] << 8 | buf[i + 1];
    else if ((sc->op == 0x1 || sc->op == 0x2) && sc->expOp != 0) {
      if (sc->op != sc->expOp || (sc->fin && sc->expLen >= 0 && len != (uint64_t)sc->expLen)) {
        sc->bad++;
        if (!sc->badSample) {
          char tmp[160];
          if (sc->expLen >= 0)
            snprintf(tmp, sizeof tmp, "opcode %d, length %llu (expected opcode %d, length %lld)", sc->op,
              (unsigned long long)len, sc->expOp, (long long)sc->expLen);
          else
            snprintf(tmp, sizeof tmp, "opcode %d, length %llu (expected opcode %d)", sc->op, (unsigned long long)len,
              sc->expOp);
          sc->badSample = strdup(tmp);
        }
      }
    }
    sc->rem = len;
    if (len == 0) done += scEnd(sc);
  }
  return done;
}

/**
 * Checks, once per connection, that the first message the server sends back starts with the
 * payload that was sent (up to 4 KiB of it). Costs one small copy, once.
 */
typedef struct {
  const uint8_t *want;
  size_t wantLen;
  uint8_t buf[14 + 4096];
  size_t have;
  bool done, ok;
  const char *detail;
} PrefixCheck;

static void pcFeed(PrefixCheck *c, const uint8_t *chunk, size_t n) {
  size_t cap = 14 + c->wantLen;
  size_t take = n < cap - c->have ? n : cap - c->have;
  memcpy(c->buf + c->have, chunk, take);
  c->have += take;
  if (c->have < 2) return;
  uint8_t b1 = c->buf[1];
  size_t hl = (size_t)headerLen(b1);
  if (c->have < hl) return;
  uint64_t len = frameLen(c->buf);
  size_t m = len < c->wantLen ? (size_t)len : c->wantLen;
  if (c->have < hl + m) return;
  c->done = true;
  uint8_t *got = c->buf + hl;
  // The ceiling's TCP echo returns the client's masked frames as they were sent.
  if (b1 >= 0x80 && MASKED_ECHO)
    for (size_t i = 0; i < m; i++) got[i] ^= c->buf[hl - 4 + (i & 3)];
  c->ok = (b1 < 0x80 || MASKED_ECHO) && memcmp(got, c->want, m) == 0;
  if (!c->ok) c->detail = b1 >= 0x80 && !MASKED_ECHO ? "server frame is masked" : "echoed payload differs from the payload sent";
}

// ---- latency histogram ----------------------------------------------------------------------

#define HIST_SIZE (1 << 21) // 1 µs buckets up to ~2.1 s
static uint32_t hist[HIST_SIZE];
static uint32_t *histOver;
static size_t histOverLen, histOverCap;
static uint64_t histCount;
static double histSum;

static void record(double ms) {
  histSum += ms;
  double usd = ms * 1000;
  long long us = usd > 0 ? (long long)usd : 0; // JS: (ms * 1000) | 0; a monotonic clock gives ms >= 0
  if (us < HIST_SIZE) hist[us]++;
  else {
    if (histOverLen == histOverCap) {
      histOverCap = histOverCap ? histOverCap * 2 : 4096;
      histOver = realloc(histOver, histOverCap * sizeof *histOver);
    }
    histOver[histOverLen++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  }
  histCount++;
}
static void resetHist(void) {
  memset(hist, 0, sizeof hist);
  histOverLen = 0;
  histCount = 0;
  histSum = 0;
}
static int cmpU32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}
static void putPercentiles(void) {
  if (histCount == 0) {
    put(",\"p50\":null,\"p99\":null,\"max\":null,\"mean\":null");
    return;
  }
  double qs[2] = {0.5, 0.99};
  uint64_t want[2];
  for (int k = 0; k < 2; k++) {
    double c = ceil(qs[k] * (double)histCount);
    want[k] = c < 1 ? 1 : (uint64_t)c;
  }
  uint64_t res[2] = {0, 0}, cum = 0, max = 0;
  int w = 0;
  for (uint64_t i = 0; i < HIST_SIZE && w < 2; i++) {
    if (hist[i] == 0) continue;
    cum += hist[i];
    max = i;
    while (w < 2 && cum >= want[w]) res[w++] = i;
  }
  if (w < 2) {
    qsort(histOver, histOverLen, sizeof *histOver, cmpU32);
    for (; w < 2; w++) {
      uint64_t j = want[w] - cum - 1;
      res[w] = histOver[j < histOverLen - 1 ? j : histOverLen - 1];
    }
  }
  if (histOverLen) {
    max = 0;
    for (size_t i = 0; i < histOverLen; i++)
      if (histOver[i] > max) max = histOver[i];
  } else
    for (long i = HIST_SIZE - 1; i >= 0; i--)
      if (hist[i]) {
        max = (uint64_t)i;
        break;
      }
  putNum("p50", (res[0] + 0.5) / 1000);
  putNum("p99", (res[1] + 0.5) / 1000);
  putNum("max", (max + 0.5) / 1000);
  putNum("mean", histSum / (double)histCount);
}

// ---- connections ----------------------------------------------------------------------------

enum { ST_FREE, ST_HANDSHAKE, ST_OPEN, ST_SETUP };

typedef struct Conn {
  int fd;
  int state;
  int key;
  bool connected; // TCP connect finished (before that, writes wait for EPOLLOUT)
  bool wantOut;   // EPOLLOUT registered
  // Pending output: `pend` bytes of the endless repetition of obase[0, operiod), from `ooff`.
  // obase holds enough copies that the pending bytes are always one contiguous range.
  const uint8_t *obase;
  size_t operiod, ooff, pend;
  // Handshake response gathered across reads (allocated only when it does not come in one read).
  uint8_t *acc;
  size_t accLen;
  uint8_t *rest; // bytes after the 101 that came in the same read (rare; kept until the scenario starts)
  size_t restLen;
  Scanner sc;
  PrefixCheck *check;
  // echo
  double *ts;
  int head, tail, free;
  // broadcast
  uint64_t seq;
  // setup
  int stage; // 0 handshake, 1 close sent, 2 server close frame seen
  double t0;
} Conn;

static int ep;
static struct sockaddr_in ADDR;
static uint8_t READ_BUF[256 * 1024]; // every socket reads into this one buffer

static void setOut(Conn *c, bool want) {
  if (c->wantOut == want) return;
  c->wantOut = want;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void closeConn(Conn *c);
static void onClosed(Conn *c, int err, bool byPeer);

/** Writes what is pending; returns false when the socket failed (and was closed). */
static bool flushOut(Conn *c) {
  while (c->pend > 0 && c->connected) {
    ssize_t w = send(c->fd, c->obase + c->ooff, c->pend, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      onClosed(c, errno, false);
      return false;
    }
    c->pend -= (size_t)w;
    c->ooff = (c->ooff + (size_t)w) % c->operiod;
  }
  setOut(c, c->pend > 0 || !c->connected);
  return true;
}

/** Queues `bytes` more of the repetition of base[0, period) (one write when the socket takes it). */
static bool queueOut(Conn *c, const uint8_t *base, size_t period, size_t bytes) {
  if (c->pend == 0) {
    c->obase = base;
    c->operiod = period;
    c->ooff = 0;
  } else if (c->obase != base) {
    fail("internal: two different outputs queued on one connection");
  }
  c->pend += bytes;
  return flushOut(c);
}

/** Starts a non-blocking connect; returns false (errno set) if it failed at once. */
static bool connectConn(Conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return false;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r = connect(c->fd, (struct sockaddr *)&ADDR, sizeof ADDR);
  if (r < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(c->fd);
    c->fd = -1;
    errno = e;
    return false;
  }
  c->connected = r == 0;
  c->wantOut = true;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return true;
}

static void closeConn(Conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->acc);
  c->acc = NULL;
  c->accLen = 0;
}

// ---- measurement window ---------------------------------------------------------------------

static bool running = true; // keep sending
static bool measuring;
static uint64_t msgs; // data messages completed during the window
static uint64_t ops;  // setup: handshake + close cycles completed during the window
static double tStart;
static struct rusage cpuStart;

static double tvUs(struct timeval tv) { return tv.tv_sec * 1e6 + tv.tv_usec; }

static double tWindowStart, tWindowEnd; // 0 = not scheduled
static void startWindow(void) { tWindowStart = nowMs() + cfgNum("warmupMs", 1000); }

static void windowBegins(void) {
  msgs = 0;
  ops = 0;
  resetHist();
  measuring = true;
  getrusage(RUSAGE_SELF, &cpuStart);
  tStart = nowMs();
  emit("measure-start");
  tWindowEnd = tStart + cfgNum("durationMs", 3000);
}

/** The measurement window's length and this process's CPU over it. */
typedef struct {
  double seconds, cpuPercent, cpuUser, cpuSystem;
} Window;

/** Ends the window and measures it. */
static Window windowEnds(void) {
  double t = nowMs();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  measuring = false;
  running = false;
  emit("measure-end");
  Window w;
  w.cpuUser = tvUs(ru.ru_utime) - tvUs(cpuStart.ru_utime);
  w.cpuSystem = tvUs(ru.ru_stime) - tvUs(cpuStart.ru_stime);
  w.cpuPercent = (w.cpuUser + w.cpuSystem) / 1000 / (t - tStart) * 100;
  w.seconds = (t - tStart) / 1000;
  return w;
}

/** The tail every timed result ends with (seconds, CPU, latency); closes the line and exits. */
static void endResult(Window w) {
  putNum("seconds", w.seconds);
  putNum("cpuPercent", w.cpuPercent);
  putNum("cpuUser", w.cpuUser);
  putNum("cpuSystem", w.cpuSystem);
  putPercentiles();
  put(",\"samples\":%llu", (unsigned long long)histCount);
  put("}");
  flushLine();
  exit(0);
}

// ---- scenario state -------------------------------------------------------------------------

static Conn *conns;
static int nConns;  // connection structs in use (opened or tried)
static int nOpen;   // opened WebSockets
static int maxConns;

static size_t SIZE;
static int W, REFILL, OPCODE;
static uint8_t *PAYLOAD;
static uint8_t *FRAME, *BATCH;
static size_t FRAME_LEN;

// openMany(): at most `openConc` handshakes at a time, until `openTarget` were tried.
static int openTarget, openConc, openInFlight, openTried;
static double openDeadline; // wall-clock-free: a monotonic ms limit (0 = none)
static uint32_t openErrors;
static char firstOpenError[200];
static bool opening;
static void openDone(void);

static void openError(const char *msg) {
  openErrors++;
  if (openErrors == 1) snprintf(firstOpenError, sizeof firstOpenError, "%s", msg);
  if (KIND[0] != 'b') noteError(msg); // echo and idle note them; broadcast needs every connection
  if (openErrors > 50) {
    char m[300];
    snprintf(m, sizeof m, "too many failed handshakes: %s", firstOpenError);
    fail(m);
  }
}

static void sockErrMsg(char *dst, size_t cap, const char *op, int e) {
  if (strcmp(op, "connect") == 0) snprintf(dst, cap, "connect %s %s:%d", errName(e), HOST, PORT);
  else snprintf(dst, cap, "%s %s", op, errName(e));
}

static void startHandshake(Conn *c) {
  int k = (int)(keyIndex++ % (unsigned)nKeys);
  if (!connectConn(c)) {
    char m[200];
    sockErrMsg(m, sizeof m, "connect", errno);
    c->fd = -1;
    c->state = ST_FREE;
    openError(m);
    return;
  }
  c->key = k;
  c->state = ST_HANDSHAKE;
  openInFlight++;
  queueOut(c, (const uint8_t *)REQUESTS[k], REQUEST_LEN[k], REQUEST_LEN[k]);
}

static bool pumping; // pumpOpen() is running (a handshake failing inside it must not re-enter)
static void pumpOpen(void) {
  if (!opening || pumping) return;
  pumping = true;
  while (openInFlight < openConc && openTried < openTarget && (openDeadline == 0 || nowMs() < openDeadline)) {
    openTried++;
    Conn *c = &conns[nConns++];
    startHandshake(c);
  }
  pumping = false;
  if (opening && openInFlight == 0 && (openTried >= openTarget || (openDeadline != 0 && nowMs() >= openDeadline))) {
    opening = false;
    openDone();
  }
}

static void handshakeFailed(Conn *c, const char *msg) {
  closeConn(c);
  c->state = ST_FREE;
  openInFlight--;
  openError(msg);
}

/** Case-insensitive search for the Sec-WebSocket-Accept header in head[0, end); checks its value. */
static bool acceptOk(const char *head, size_t end, const char *want) {
  size_t i = 0;
  // skip the status line
  while (i + 1 < end && !(head[i] == '\r' && head[i + 1] == '\n')) i++;
  i += 2;
  while (i < end) {
    size_t j = i;
    while (j + 1 < end + 2 && !(head[j] == '\r' && head[j + 1] == '\n') && j < end) j++;
    // line is head[i, j)
    const char *colon = memchr(head + i, ':', j - i);
    if (colon) {
      size_t a = i, b = (size_t)(colon - head);
      while (a < b && (head[a] == ' ' || head[a] == '\t')) a++;
      while (b > a && (head[b - 1] == ' ' || head[b - 1] == '\t')) b--;
      if (b - a == 20 && strncasecmp(head + a, "sec-websocket-accept", 20) == 0) {
        size_t v = (size_t)(colon - head) + 1, e = j;
        while (v < e && (head[v] == ' ' || head[v] == '\t')) v++;
        while (e > v && (head[e - 1] == ' ' || head[e - 1] == '\t')) e--;
        return e - v == strlen(want) && memcmp(head + v, want, e - v) == 0;
      }
    }
    i = j + 2;
  }
  return false;
}

static void onOpenBytes(Conn *c, const uint8_t *buf, size_t n);

/** Bytes during the handshake of openWs(): the 101 with our accept value, then ST_OPEN. */
/**
 * A response head arriving in pieces: `buf` joins the bytes already held, if any. Sets the bytes
 * to search (*a, *alen); false when they would pass `limit`.
 */
static bool gatherHead(Conn *c, const uint8_t *buf, size_t n, size_t limit, const uint8_t **a, size_t *alen) {
  *a = buf;
  *alen = n;
  if (!c->acc && !c->accLen) return true;
  if (c->accLen + n > limit) return false;
  c->acc = realloc(c->acc, c->accLen + n);
  memcpy(c->acc + c->accLen, buf, n);
  c->accLen += n;
  *a = c->acc;
  *alen = c->accLen;
  return true;
}

/** No end of the head yet: keep what came (the first piece is copied; later ones were joined). */
static void holdHead(Conn *c, const uint8_t *buf, size_t n) {
  if (c->acc) return;
  c->acc = malloc(n);
  memcpy(c->acc, buf, n);
  c->accLen = n;
}

static void onHandshakeBytes(Conn *c, const uint8_t *buf, size_t n) {
  const uint8_t *a;
  size_t alen;
  if (!gatherHead(c, buf, n, 16384 + 256 * 1024, &a, &alen)) return handshakeFailed(c, "handshake response too large");
  const uint8_t *e = memmem(a, alen, "\r\n\r\n", 4);
  if (!e) {
    if (alen > 16384) return handshakeFailed(c, "handshake response too large");
    holdHead(c, buf, n);
    return;
  }
  size_t end = (size_t)(e - a);
  if (end < 12 || memcmp(a, "HTTP/1.1 101", 12) != 0) {
    char m[200];
    const uint8_t *crlf = memmem(a, end + 2, "\r\n", 2);
    int l = (int)(crlf ? crlf - a : (long)end);
    snprintf(m, sizeof m, "handshake failed: %.*s", l > 150 ? 150 : l, (const char *)a);
    return handshakeFailed(c, m);
  }
  if (!acceptOk((const char *)a, end, ACCEPTS[c->key])) return handshakeFailed(c, "bad Sec-WebSocket-Accept");
  size_t restLen = alen - end - 4;
  if (restLen) {
    c->rest = malloc(restLen);
    memcpy(c->rest, a + end + 4, restLen);
    c->restLen = restLen;
  }
  free(c->acc);
  c->acc = NULL;
  c->accLen = 0;
  c->state = ST_OPEN;
  nOpen++;
  openInFlight--;
}

// ---- echo -----------------------------------------------------------------------------------

static bool scenarioStarted; // the scenario's handlers run (before: bytes are kept in c->rest)
static PrefixCheck *checks;
static int nChecks;
static void setupScanner(Conn *c) {
  c->sc.expOp = OPCODE;
  c->sc.expLen = (int64_t)SIZE;
  c->check = &checks[nChecks++];
  c->check->want = PAYLOAD;
  c->check->wantLen = SIZE < 4096 ? SIZE : 4096;
}

/** A connection's per-read frame count (frameCounter() in loadgen.mjs). */
static int countFrames(Conn *c, const uint8_t *buf, size_t n) {
  if (c->check && !c->check->done) pcFeed(c->check, buf, n);
  int done = scFeed(&c->sc, buf, n);
  if (c->sc.closed) {
    char m[64];
    snprintf(m, sizeof m, "server sent close %d", c->sc.closeCode);
    noteError(m);
    closeConn(c);
    return 0;
  }
  return done;
}

static void echoBytes(Conn *c, const uint8_t *buf, size_t n) {
  int done = countFrames(c, buf, n);
  if (done == 0) return;
  double now = nowMs();
  if (measuring) {
    msgs += (uint64_t)done;
    for (int k = 0; k < done; k++) {
      record(now - c->ts[c->head]);
      c->head = c->head + 1 == W ? 0 : c->head + 1;
    }
  } else {
    c->head = (c->head + done) % W;
  }
  c->free += done;
  if (running && c->free >= REFILL) {
    for (int k = 0; k < c->free; k++) {
      c->ts[c->tail] = now;
      c->tail = c->tail + 1 == W ? 0 : c->tail + 1;
    }
    int k = c->free;
    c->free = 0;
    queueOut(c, BATCH, FRAME_LEN, FRAME_LEN * (size_t)k);
  }
}

static void echoStart(void) {
  if (nOpen == 0) {
    char m[300];
    snprintf(m, sizeof m, "no connection could be opened: %s", firstOpenError);
    fail(m);
  }
  put("{\"type\":\"connected\",\"conns\":%d}", nOpen);
  flushLine();
  checks = calloc((size_t)nOpen, sizeof *checks);
  scenarioStarted = true;
  double *tsAll = calloc((size_t)nOpen * (size_t)W, sizeof(double));
  int j = 0;
  for (int i = 0; i < nConns; i++) {
    Conn *c = &conns[i];
    if (c->state != ST_OPEN) continue;
    setupScanner(c);
    c->ts = tsAll + (size_t)W * (size_t)j++;
    double now = nowMs();
    for (int k = 0; k < W; k++) c->ts[k] = now;
    if (!queueOut(c, BATCH, FRAME_LEN, FRAME_LEN * (size_t)W)) continue;
    if (c->restLen) echoBytes(c, c->rest, c->restLen);
  }
  startWindow();
}

static void putVerification(void);

/** How an echo or broadcast result starts: the data messages counted and their rates. */
static void putMessagesHead(const char *kind, int connCount, double seconds) {
  put("{\"type\":\"result\",\"kind\":\"%s\",\"loadgen\":\"c\",\"conns\":%d,\"inflight\":%d,\"size\":%zu,\"msgs\":%llu",
    kind, connCount, W, SIZE, (unsigned long long)msgs);
  putNum("msgsPerSec", msgs / seconds);
  putNum("bytesPerSec", (double)msgs * (double)SIZE / seconds);
}

static void echoResult(void) {
  Window w = windowEnds();
  putMessagesHead("echo", nOpen, w.seconds);
  put(",\"deflateRequested\":false,\"deflateNegotiated\":false,\"deflatePartial\":false,\"frameBytes\":%zu", FRAME_LEN);
  putVerification();
  endResult(w);
}

/** Summary of the header / first-payload checks (verification() in loadgen.mjs). */
static void putVerification(void) {
  uint64_t badFrames = 0, verified = 0;
  const char *badSample = NULL;
  for (int i = 0; i < nConns; i++) {
    Conn *c = &conns[i];
    if (!c->check) continue;
    badFrames += c->sc.bad;
    if (!badSample) badSample = c->sc.badSample;
  }
  for (int i = 0; i < nChecks; i++) {
    if (!checks[i].done) continue;
    if (checks[i].ok) verified++;
    else {
      badFrames++;
      if (!badSample) badSample = checks[i].detail;
    }
  }
  putErrors();
  put(",\"badFrames\":%llu,\"badSample\":", (unsigned long long)badFrames);
  if (badSample) putStr(badSample);
  else put("null");
  put(",\"payloadVerified\":%llu,\"payloadChecks\":%d", (unsigned long long)verified, nChecks);
}

// ---- broadcast ------------------------------------------------------------------------------

static double *sendTs;      // send time per in-flight broadcast (slot = seq % W)
static uint32_t *received; // receivers that got the broadcast in that slot
static uint64_t sent, release, completed;
static double tBroadcastGo;

static void bcastSend(int k, double now) {
  for (int j = 0; j < k; j++) sendTs[(sent + (uint64_t)j) % (uint64_t)W] = now;
  sent += (uint64_t)k;
  queueOut(&conns[0], BATCH, FRAME_LEN, FRAME_LEN * (size_t)k);
}

static void broadcastBytes(Conn *c, const uint8_t *buf, size_t n) {
  int done = countFrames(c, buf, n);
  if (done == 0) return;
  double now = nowMs();
  if (measuring) msgs += (uint64_t)done;
  for (int k = 0; k < done; k++) {
    uint64_t slot = c->seq % (uint64_t)W;
    c->seq++;
    if (measuring) record(now - sendTs[slot]);
    if (++received[slot] == (uint32_t)maxConns) {
      received[slot] = 0;
      completed++;
      release++;
    }
  }
  if (release > 0 && running) {
    int k = (int)release;
    release = 0;
    if (conns[0].fd >= 0) bcastSend(k, now);
  }
}

static void broadcastOpened(void) {
  if (nOpen != maxConns) {
    char m[300];
    snprintf(m, sizeof m, "opened %d/%d connections: %s", nOpen, maxConns, firstOpenError);
    fail(m);
  }
  put("{\"type\":\"connected\",\"conns\":%d}", nOpen);
  flushLine();
  checks = calloc((size_t)nOpen, sizeof *checks);
  sendTs = calloc((size_t)W, sizeof *sendTs);
  received = calloc((size_t)W, sizeof *received);
  for (int i = 0; i < nConns; i++) setupScanner(&conns[i]);
  // Let the server register every connection before the first broadcast.
  tBroadcastGo = nowMs() + 100;
}

static void broadcastGo(void) {
  scenarioStarted = true;
  for (int i = 0; i < nConns; i++)
    if (conns[i].restLen && conns[i].fd >= 0) broadcastBytes(&conns[i], conns[i].rest, conns[i].restLen);
  bcastSend(W, nowMs());
  startWindow();
}

static void broadcastResult(void) {
  Window w = windowEnds();
  putMessagesHead("broadcast", maxConns, w.seconds);
  putNum("broadcastsPerSec", msgs / (double)maxConns / w.seconds);
  put(",\"completedBroadcasts\":%llu", (unsigned long long)completed);
  putVerification();
  endResult(w);
}

// ---- setup ----------------------------------------------------------------------------------

static int SETUP_C;
static long long maxOps, totalSetup;
static int pendingCycles; // cycles to start from the main loop (setImmediate in loadgen.mjs)
static const double STUCK_MS = 3000;
static double tStuck;

static void setupCycle(Conn *c) {
  if (!running || totalSetup >= maxOps) return;
  totalSetup++;
  double t0 = nowMs();
  int k = (int)(keyIndex++ % (unsigned)nKeys);
  if (!connectConn(c)) {
    int e = errno;
    c->fd = -1;
    c->state = ST_SETUP;
    c->stage = 0;
    noteError(errName(e));
    onClosed(c, 0, false);
    return;
  }
  c->state = ST_SETUP;
  c->key = k;
  c->stage = 0;
  c->t0 = t0;
  queueOut(c, (const uint8_t *)REQUESTS[k], REQUEST_LEN[k], REQUEST_LEN[k]);
}

static void setupBytes(Conn *c, const uint8_t *buf, size_t n) {
  const uint8_t *chunk = buf;
  size_t clen = n;
  if (c->stage == 0) {
    const uint8_t *a;
    size_t alen;
    if (!gatherHead(c, buf, n, 65536, &a, &alen)) {
      noteError("handshake response too large");
      return onClosed(c, 0, false);
    }
    const uint8_t *e = memmem(a, alen, "\r\n\r\n", 4);
    if (!e) {
      holdHead(c, buf, n);
      return;
    }
    size_t end = (size_t)(e - a);
    const char *acc = ACCEPTS[c->key];
    // "HTTP/1.1 101" and our Sec-WebSocket-Accept value
    if (alen < 12 || a[9] != '1' || a[10] != '0' || a[11] != '1' || !memmem(a, end, acc, strlen(acc))) {
      char m[200];
      const uint8_t *crlf = memmem(a, alen, "\r\n", 2);
      int l = (int)(crlf ? crlf - a : 0);
      snprintf(m, sizeof m, "handshake failed: %.*s", l > 150 ? 150 : l, (const char *)a);
      noteError(m);
      return onClosed(c, 0, false);
    }
    c->stage = 1;
    // The request is long written (the server answered it): the output is free for the close frame.
    c->pend = 0;
    queueOut(c, CLOSE_FRAME, CLOSE_LEN, CLOSE_LEN);
    if (c->fd < 0) return;
    chunk = a + end + 4;
    clen = alen - end - 4;
    if (clen == 0) {
      free(c->acc);
      c->acc = NULL;
      c->accLen = 0;
      return;
    }
  }
  // The server sends nothing but its close frame (0x88 ...) after the 101.
  if (c->stage == 1) {
    if (chunk[0] == 0x88) c->stage = 2; // then wait for the server to close TCP (RFC 6455 §7.1.1)
    else {
      char m[80];
      snprintf(m, sizeof m, "unexpected frame 0x%x before the close frame", chunk[0]);
      noteError(m);
      free(c->acc);
      c->acc = NULL;
      return onClosed(c, 0, false);
    }
  }
  free(c->acc);
  c->acc = NULL;
  c->accLen = 0;
}

/** The socket's 'close' in loadgen.mjs's setup: count a finished cycle, note an early end. */
static void setupClosed(Conn *c) {
  closeConn(c);
  if (c->stage == 2) {
    if (measuring) {
      ops++;
      record(nowMs() - c->t0);
    }
  } else if (running)
    noteError(c->stage == 0 ? "closed before 101" : "closed without close frame");
  c->state = ST_FREE;
  if (running) pendingCycles++;
}

static void setupStart(void) {
  put("{\"type\":\"connected\",\"conns\":%d}", SETUP_C);
  flushLine();
  for (int i = 0; i < SETUP_C; i++) setupCycle(&conns[i]);
  tStuck = nowMs() + 250;
  startWindow();
}

static void setupStuck(void) {
  double now = nowMs();
  for (int i = 0; i < SETUP_C; i++) {
    Conn *c = &conns[i];
    if (c->state == ST_SETUP && c->fd >= 0 && now - c->t0 > STUCK_MS) {
      char m[80];
      snprintf(m, sizeof m, "handshake + close took > %.0f ms", STUCK_MS);
      noteError(m);
      onClosed(c, 0, false);
    }
  }
  tStuck = now + 250;
}

static void startPendingCycles(void) {
  for (int i = 0; i < SETUP_C && pendingCycles > 0; i++) {
    if (conns[i].state != ST_FREE) continue;
    pendingCycles--;
    setupCycle(&conns[i]);
  }
  pendingCycles = 0;
}

static void setupResult(void) {
  Window w = windowEnds();
  put("{\"type\":\"result\",\"kind\":\"setup\",\"loadgen\":\"c\",\"concurrency\":%d,\"ops\":%llu", SETUP_C,
    (unsigned long long)ops);
  putNum("msgsPerSec", ops / w.seconds);
  put(",\"bytesPerSec\":null,\"totalConnections\":%lld,\"hitMaxOps\":%s", totalSetup, totalSetup >= maxOps ? "true" : "false");
  putErrors();
  endResult(w);
}

// ---- idle -----------------------------------------------------------------------------------

static double idleT0, idleOpenSeconds, idleCpuPercent;
static struct rusage idleCpu0;
static uint64_t idleErrors;
static bool idleReady;

static void idleOpened(void) {
  idleOpenSeconds = (nowMs() - idleT0) / 1000;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = tvUs(ru.ru_utime) - tvUs(idleCpu0.ru_utime) + tvUs(ru.ru_stime) - tvUs(idleCpu0.ru_stime);
  idleCpuPercent = cpu / 1000 / (idleOpenSeconds * 1000) * 100;
  idleErrors = errors;
  idleReady = true;
  put("{\"type\":\"idle-ready\",\"opened\":%d,\"errors\":%llu}", nOpen, (unsigned long long)errors);
  flushLine();
}

static void idleResult(void) {
  put("{\"type\":\"result\",\"kind\":\"idle\",\"loadgen\":\"c\",\"requested\":%d,\"opened\":%d", maxConns, nOpen);
  putNum("openSeconds", idleOpenSeconds);
  putNum("openPerSec", nOpen / idleOpenSeconds);
  putNum("cpuPercent", idleCpuPercent);
  uint64_t later = errors;
  errors = idleErrors; // the count when the result was taken (loadgen.mjs), samples as they are now
  putErrors();
  errors = later;
  put("}");
  flushLine();
  exit(0);
}

// ---- dispatch -------------------------------------------------------------------------------

static void openDone(void) {
  if (KIND[0] == 'e') echoStart();
  else if (KIND[0] == 'b') broadcastOpened();
  else if (KIND[0] == 'i') idleOpened();
}

static void onOpenBytes(Conn *c, const uint8_t *buf, size_t n) {
  if (!scenarioStarted) {
    // Before the scenario starts: keep the bytes for it (the server should send none).
    if (KIND[0] == 'i') return;
    if (c->restLen + n > 1 << 20) { // a server has nothing to send before the first message: bound it
      noteError("server sent over 1 MiB before the first message");
      closeConn(c);
      return;
    }
    c->rest = realloc(c->rest, c->restLen + n);
    memcpy(c->rest + c->restLen, buf, n);
    c->restLen += n;
    return;
  }
  if (KIND[0] == 'e') echoBytes(c, buf, n);
  else if (KIND[0] == 'b') broadcastBytes(c, buf, n);
  // idle: nothing to do with bytes
}

/** A socket ended: a read/write error (err != 0), the peer's FIN (byPeer), or our own close. */
static void onClosed(Conn *c, int err, bool byPeer) {
  if (c->state == ST_SETUP) {
    if (err) noteError(errName(err));
    setupClosed(c);
    return;
  }
  if (c->state == ST_HANDSHAKE) {
    char m[200];
    if (err) sockErrMsg(m, sizeof m, c->connected ? "read" : "connect", err);
    else snprintf(m, sizeof m, "connection closed during handshake");
    handshakeFailed(c, m);
    pumpOpen();
    return;
  }
  if (c->state == ST_OPEN) {
    if (err) noteError(errName(err));
    else if (byPeer && running) noteError("server closed the connection without a close frame");
    closeConn(c);
  }
}

static void onEvent(Conn *c, uint32_t events) {
  if (c->fd < 0) return;
  if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return onClosed(c, err, false);
    c->connected = true;
  }
  if (events & EPOLLOUT) {
    if (!flushOut(c)) return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    // Drain what is there in up to a few reads (a full buffer means more may be waiting).
    for (int r = 0; r < 4 && c->fd >= 0; r++) {
      ssize_t n = read(c->fd, READ_BUF, sizeof READ_BUF);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return onClosed(c, errno, false);
      }
      if (n == 0) return onClosed(c, 0, true);
      if (c->state == ST_HANDSHAKE) {
        onHandshakeBytes(c, READ_BUF, (size_t)n);
        if (c->state != ST_HANDSHAKE) pumpOpen();
      } else if (c->state == ST_OPEN) onOpenBytes(c, READ_BUF, (size_t)n);
      else if (c->state == ST_SETUP) setupBytes(c, READ_BUF, (size_t)n);
      if ((size_t)n < sizeof READ_BUF) break;
    }
  }
}

static char stdinBuf[256];
static size_t stdinLen;
static bool stdinOpen = true;

static void onStdin(void) {
  ssize_t n = read(0, stdinBuf + stdinLen, sizeof stdinBuf - 1 - stdinLen);
  if (n <= 0) {
    // The parent went away (or closed our input): an idle run ends, others run to their end.
    epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
    stdinOpen = false;
    if (KIND[0] == 'i' && idleReady) idleResult();
    return;
  }
  stdinLen += (size_t)n;
  stdinBuf[stdinLen] = 0;
  char *nl;
  while ((nl = strchr(stdinBuf, '\n')) != NULL) {
    *nl = 0;
    if (strstr(stdinBuf, "finish") && KIND[0] == 'i' && idleReady) idleResult();
    size_t used = (size_t)(nl - stdinBuf) + 1;
    memmove(stdinBuf, nl + 1, stdinLen - used + 1);
    stdinLen -= used;
  }
  if (stdinLen == sizeof stdinBuf - 1) stdinLen = 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive run.mjs
  setvbuf(stdout, NULL, _IONBF, 0);
  cfgText = argc > 1 ? argv[1] : "{}";
  double t0 = nowMs();
  cfgStr("kind", KIND, sizeof KIND, "echo");
  cfgStr("host", HOST, sizeof HOST, "127.0.0.1");
  PORT = (int)cfgNum("port", 0);
  MASKED_ECHO = cfgBool("maskedEcho");
  hardDeadlineMs = (long long)cfgNum("hardDeadlineMs", 120000);
  if (!PORT) fail("no port given");
  if (cfgBool("deflate")) fail("the C load generator does not speak permessage-deflate (use bench/loadgen.mjs)");
  memset(&ADDR, 0, sizeof ADDR);
  ADDR.sin_family = AF_INET;
  ADDR.sin_port = htons((uint16_t)PORT);
  if (inet_pton(AF_INET, HOST, &ADDR.sin_addr) != 1 || (ntohl(ADDR.sin_addr.s_addr) >> 24) != 127)
    fail("host must be a 127.x.x.x address (loopback only)");

  // Key / accept pairs from run.mjs.
  for (int i = 2; i + 1 < argc && nKeys < MAX_KEYS; i += 2) {
    char req[512];
    int n = snprintf(req, sizeof req,
      "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
      HOST, PORT, argv[i]);
    if (n <= 0 || (size_t)n >= sizeof req) fail("key too long");
    REQUESTS[nKeys] = strdup(req);
    REQUEST_LEN[nKeys] = (size_t)n;
    ACCEPTS[nKeys] = argv[i + 1];
    nKeys++;
  }
  if (nKeys == 0) fail("no Sec-WebSocket-Key / accept pairs given (argv after the config)");

  do {
    if (getrandom(MASK, 4, 0) != 4) fail("getrandom failed");
  } while ((MASK[0] | MASK[1] | MASK[2] | MASK[3]) == 0);
  uint8_t closePayload[2] = {0x03, 0xe8}; // 1000, no reason
  CLOSE_FRAME = encodeFrame(0x8, closePayload, 2, &CLOSE_LEN);

  ep = epoll_create1(EPOLL_CLOEXEC);
  {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) stdinOpen = false; // e.g. /dev/null: no commands
  }

  bool echo = strcmp(KIND, "echo") == 0, bcast = strcmp(KIND, "broadcast") == 0;
  bool setup = strcmp(KIND, "setup") == 0, idle = strcmp(KIND, "idle") == 0;
  if (!echo && !bcast && !setup && !idle) {
    char m[64];
    snprintf(m, sizeof m, "unknown kind %s", KIND);
    fail(m);
  }
  if (echo || bcast) {
    SIZE = (size_t)cfgNum("size", 0);
    W = (int)cfgNum("inflight", 1);
    if (W < 1) W = 1;
    int refill = (int)cfgNum("refill", 1);
    REFILL = refill < 1 ? 1 : refill > W ? W : refill;
    bool binary = cfgBool("binary");
    OPCODE = binary ? 0x2 : 0x1;
    PAYLOAD = binary ? binaryPayload(SIZE) : textPayload(SIZE);
    FRAME = encodeFrame(OPCODE, PAYLOAD, SIZE, &FRAME_LEN);
    // W + 1 copies: a pending range of up to W frames starting inside a frame is contiguous.
    BATCH = frameBatch(FRAME, FRAME_LEN, W + 1);
    maxConns = (int)cfgNum("conns", 1);
    conns = calloc((size_t)maxConns, sizeof *conns);
    openTarget = maxConns;
    openConc = 64;
    opening = true;
  } else if (idle) {
    maxConns = (int)cfgNum("conns", 1);
    conns = calloc((size_t)maxConns, sizeof *conns);
    openTarget = maxConns;
    openConc = (int)cfgNum("openConcurrency", 128);
    idleT0 = nowMs();
    getrusage(RUSAGE_SELF, &idleCpu0);
    openDeadline = idleT0 + cfgNum("openTimeoutMs", 60000);
    opening = true;
  } else {
    SETUP_C = (int)cfgNum("concurrency", 16);
    maxOps = (long long)cfgNum("maxOps", 200000);
    conns = calloc((size_t)SETUP_C, sizeof *conns);
    for (int i = 0; i < SETUP_C; i++) conns[i].fd = -1;
    nConns = SETUP_C;
  }
  for (int i = 0; i < maxConns; i++) conns[i].fd = -1;

  if (opening) pumpOpen();
  else setupStart();

  double hard = t0 + (double)hardDeadlineMs;
  struct epoll_event evs[512];
  for (;;) {
    double now = nowMs();
    if (now >= hard) {
      char m[100];
      snprintf(m, sizeof m, "loadgen hard deadline (%lld ms) reached", hardDeadlineMs);
      fail(m);
    }
    if (tBroadcastGo > 0 && now >= tBroadcastGo) {
      tBroadcastGo = 0;
      broadcastGo();
    }
    if (tWindowStart > 0 && now >= tWindowStart) {
      tWindowStart = 0;
      windowBegins();
    }
    if (tWindowEnd > 0 && now >= tWindowEnd) {
      if (echo) echoResult();
      if (bcast) broadcastResult();
      if (setup) setupResult();
    }
    if (setup && tStuck > 0 && now >= tStuck) setupStuck();
    if (setup && pendingCycles > 0) startPendingCycles();
    if (opening) pumpOpen(); // idle's open deadline

    double next = hard;
    if (tBroadcastGo > 0 && tBroadcastGo < next) next = tBroadcastGo;
    if (tWindowStart > 0 && tWindowStart < next) next = tWindowStart;
    if (tWindowEnd > 0 && tWindowEnd < next) next = tWindowEnd;
    if (setup && tStuck > 0 && tStuck < next) next = tStuck;
    if (opening && openDeadline > 0 && openDeadline < next) next = openDeadline;
    now = nowMs();
    int timeout = next <= now ? 0 : (int)ceil(next - now);
    if (timeout > 1000) timeout = 1000;
    int n = epoll_wait(ep, evs, 512, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait failed");
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) onStdin();
      else onEvent(evs[i].data.ptr, evs[i].events);
    }
  }
}
