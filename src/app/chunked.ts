// A chunked request body (RFC 9112 §7.1), decoded as it arrives, strictly and
// within bounds: CRLF only, at most 15 hex digits of size, chunk extensions and
// trailers skipped but counted (TRAILER_MAX bytes in all), the body's total
// checked against maxBodyLength as the sizes come. No Node imports.

/** Where the decoded bytes go. */
export interface ChunkSink {
  /** Body bytes b[start, end) (valid during the call). */
  chunk(b: Uint8Array, start: number, end: number): void;
}

const CR = 13, LF = 10;
const SIZE = 0, EXT = 1, SIZE_LF = 2, DATA = 3, DATA_CR = 4, DATA_LF = 5, LINE = 6, TRAILER = 7, TRAILER_LF = 8, END_LF = 9, DONE = 10;
// Chunk extensions and trailer fields together: what a client may send
// besides data. 8 KiB is half the head's limit (no client we know sends either).
const TRAILER_MAX = 8 * 1024;

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

export class ChunkedBody {
  private state = SIZE;
  private size = 0;
  private digits = 0;
  private left = 0;
  private total = 0;
  private extra = 0;

  constructor(private readonly maxBodyLength: number) {}

  get done(): boolean { return this.state === DONE; }

  /**
   * Decodes b[p, end). Returns where it stopped (end, or just past the body's
   * last CRLF), or a negative status: -400 malformed, -413 past maxBodyLength.
   */
  feed(b: Uint8Array, p: number, end: number, sink: ChunkSink): number {
    while (p < end) {
      const c = b[p];
      switch (this.state) {
        case SIZE: {
          const d = hex(c);
          if (d >= 0) {
            if (++this.digits > 15) return -400;
            this.size = this.size * 16 + d;
            p++;
            continue;
          }
          if (this.digits === 0) return -400;
          if (c === CR) this.state = SIZE_LF;
          else if (c === 0x3b || c === 0x20 || c === 0x09) this.state = EXT; // ";ext" (BWS before it, as llhttp allows)
          else return -400;
          break;
        }
        case EXT:
          if (c === CR) this.state = SIZE_LF;
          else if (c === LF || c < 0x09 || (c > 0x09 && c < 0x20) || c === 0x7f || ++this.extra > TRAILER_MAX) return -400;
          break;
        case SIZE_LF:
          if (c !== LF) return -400;
          this.total += this.size;
          if (this.total > this.maxBodyLength) return -413;
          this.left = this.size;
          this.size = 0;
          this.digits = 0;
          this.state = this.left === 0 ? LINE : DATA;
          break;
        case DATA: {
          const n = Math.min(this.left, end - p);
          sink.chunk(b, p, p + n);
          this.left -= n;
          p += n;
          if (this.left === 0) this.state = DATA_CR;
          continue;
        }
        case DATA_CR:
          if (c !== CR) return -400;
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== LF) return -400;
          this.state = SIZE;
          break;
        case LINE: // after the last chunk: a trailer field, or the final CRLF
          if (c === CR) this.state = END_LF;
          else if (c === LF) return -400;
          else { this.state = TRAILER; if (++this.extra > TRAILER_MAX) return -400; }
          break;
        case TRAILER:
          if (c === CR) this.state = TRAILER_LF;
          else if (c === LF || ++this.extra > TRAILER_MAX) return -400;
          break;
        case TRAILER_LF:
          if (c !== LF) return -400;
          this.state = LINE;
          break;
        case END_LF:
          if (c !== LF) return -400;
          this.state = DONE;
          return p + 1;
      }
      p++;
    }
    return end;
  }
}
