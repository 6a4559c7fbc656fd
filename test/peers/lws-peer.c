/*
 * A libwebsockets peer for the interop tests (test/lws-interop.test.ts), built
 * at test setup with gcc and `pkg-config --cflags --libs libwebsockets`.
 * permessage-deflate is offered/accepted in both roles.
 *
 *   lws-peer server         echo server on 127.0.0.1, an ephemeral port;
 *                           prints "LISTENING <port>"
 *   lws-peer client <port>  connects to ws://127.0.0.1:<port>/, first expects
 *                           the messages the server pushes on its own (below),
 *                           then sends its messages one at a time and checks
 *                           each echo; prints "PUSH <i> OK|BAD", "ECHO <i>
 *                           OK|BAD", "DONE <ok count>", then closes with 1000
 *
 * libwebsockets 4.1.6 itself cannot send an empty message once its deflate
 * stream has output ("FAIL want to trim out length 0", an assert), so the
 * client sends its empty message first; empty messages in the middle of a
 * stream are tested in the receiving direction, as pushes.
 */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSG (256 * 1024)

struct msg {
	unsigned char *data;
	size_t len;
	int binary;
	struct msg *next;
};

/* One connection's state: the message being received, and echoes to send (server). */
struct conn {
	unsigned char *rx;
	size_t rx_len;
	struct msg *out_head, *out_tail;
};

static int interrupted, is_client, sent, pushed, ok_count, done;
static struct lws *client_wsi;

/* What the server pushes first (empty text between others: the case that
 * slipped when it came uncompressed), then the client's own messages: small
 * and large text, binary. */
#define N_PUSH 4
static const char *push_msgs[N_PUSH] = { "", "push-1", "", "push-2" };
#define N_MSGS 6
static struct msg client_msgs[N_MSGS];

static void make_msgs(void)
{
	static const size_t lens[N_MSGS] = { 0, 5, 3000, 1000, 70000, 4 };
	static const int binary[N_MSGS] = { 0, 0, 0, 1, 0, 0 };
	for (int i = 0; i < N_MSGS; i++) {
		client_msgs[i].len = lens[i];
		client_msgs[i].binary = binary[i];
		client_msgs[i].data = malloc(lens[i] + 1);
		for (size_t j = 0; j < lens[i]; j++)
			client_msgs[i].data[j] = binary[i] ? (unsigned char)(j * 7 + i)
							   : (unsigned char)('a' + (j % 26));
	}
	memcpy(client_msgs[1].data, "hello", 5);
	memcpy(client_msgs[5].data, "last", 4);
}

static int write_msg(struct lws *wsi, const unsigned char *data, size_t len, int binary)
{
	unsigned char *buf = malloc(LWS_PRE + len + 1);
	int n;
	if (len)
		memcpy(buf + LWS_PRE, data, len);
	n = lws_write(wsi, buf + LWS_PRE, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(buf);
	return n < (int)len ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = (struct conn *)user;
	char ext[256];

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (lws_hdr_copy(wsi, ext, sizeof(ext), WSI_TOKEN_EXTENSIONS) < 0)
			ext[0] = '\0';
		printf("EXT %s\n", ext);
		fflush(stdout);
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		printf("ERROR %s\n", in ? (char *)in : "connection error");
		fflush(stdout);
		interrupted = 1;
		break;

	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
	case LWS_CALLBACK_RECEIVE:
		if (lws_is_first_fragment(wsi))
			c->rx_len = 0;
		if (!c->rx)
			c->rx = malloc(MAX_MSG);
		if (c->rx_len + len > MAX_MSG)
			return -1;
		if (len)
			memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			break;
		if (is_client && pushed < N_PUSH) {
			const char *want = push_msgs[pushed];
			int good = c->rx_len == strlen(want) && !memcmp(c->rx, want, c->rx_len) && !lws_frame_is_binary(wsi);
			printf("PUSH %d %s %zu\n", pushed, good ? "OK" : "BAD", c->rx_len);
			fflush(stdout);
			if (!good)
				return -1;
			if (++pushed == N_PUSH)
				lws_callback_on_writable(wsi);
		} else if (is_client) {
			struct msg *want;
			if (sent == 0)
				return -1; /* nothing asked for yet */
			want = &client_msgs[sent - 1];
			int good = c->rx_len == want->len && !memcmp(c->rx, want->data, want->len) &&
				   !!lws_frame_is_binary(wsi) == want->binary;
			printf("ECHO %d %s %zu\n", sent - 1, good ? "OK" : "BAD", c->rx_len);
			fflush(stdout);
			if (!good)
				return -1;
			ok_count++;
			lws_callback_on_writable(wsi);
		} else {
			struct msg *m = calloc(1, sizeof(*m));
			m->data = malloc(c->rx_len + 1);
			memcpy(m->data, c->rx, c->rx_len);
			m->len = c->rx_len;
			m->binary = !!lws_frame_is_binary(wsi);
			if (c->out_tail)
				c->out_tail->next = m;
			else
				c->out_head = m;
			c->out_tail = m;
			lws_callback_on_writable(wsi);
		}
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (sent == N_MSGS) {
			printf("DONE %d\n", ok_count);
			fflush(stdout);
			done = 1;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
			return -1;
		}
		if (write_msg(wsi, client_msgs[sent].data, client_msgs[sent].len, client_msgs[sent].binary))
			return -1;
		sent++;
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->out_head) {
			struct msg *m = c->out_head;
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			if (write_msg(wsi, m->data, m->len, m->binary))
				return -1;
			free(m->data);
			free(m);
			if (c->out_head)
				lws_callback_on_writable(wsi);
		}
		break;

	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			while (c->out_head) {
				struct msg *m = c->out_head;
				c->out_head = m->next;
				free(m->data);
				free(m);
			}
			free(c->rx);
			c->rx = NULL;
		}
		if (is_client) {
			printf("CLOSED\n");
			fflush(stdout);
			interrupted = 1;
		}
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "echo", callback, sizeof(struct conn), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_extension extensions[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	  "permessage-deflate; client_max_window_bits" },
	{ NULL, NULL, NULL }
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *context;

	if (argc < 2 || (strcmp(argv[1], "server") && (strcmp(argv[1], "client") || argc < 3))) {
		fprintf(stderr, "usage: lws-peer server | lws-peer client <port>\n");
		return 2;
	}
	is_client = !strcmp(argv[1], "client");
	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.protocols = protocols;
	info.extensions = extensions;
	info.gid = -1;
	info.uid = -1;
	if (is_client) {
		info.port = CONTEXT_PORT_NO_LISTEN;
	} else {
		info.port = 0; /* an ephemeral port, read back below */
		info.iface = "127.0.0.1";
	}
	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lws_create_context failed\n");
		return 1;
	}

	if (is_client) {
		struct lws_client_connect_info ci;
		make_msgs();
		memset(&ci, 0, sizeof(ci));
		ci.context = context;
		ci.address = "127.0.0.1";
		ci.port = atoi(argv[2]);
		ci.path = "/";
		ci.host = "127.0.0.1";
		ci.origin = "127.0.0.1";
		ci.protocol = NULL;
		ci.local_protocol_name = "echo";
		ci.pwsi = &client_wsi;
		if (!lws_client_connect_via_info(&ci)) {
			printf("ERROR connect failed\n");
			return 1;
		}
	} else {
		struct lws_vhost *vh = lws_get_vhost_by_name(context, "default");
		printf("LISTENING %d\n", vh ? lws_get_vhost_listen_port(vh) : -1);
		fflush(stdout);
	}

	while (!interrupted)
		if (lws_service(context, 0) < 0)
			break;

	lws_context_destroy(context);
	return is_client ? (done && ok_count == N_MSGS ? 0 : 1) : 0;
}
