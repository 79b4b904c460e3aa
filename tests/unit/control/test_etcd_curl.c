/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of control/etcd/transport_curl.c against a tiny HTTP server
 * on loopback (a thread of this test): connection reuse, failover to the
 * next endpoint only when the request was not sent, and a chunked watch
 * stream whose chunks cut the JSON objects at odd places, as read by
 * curl's write callback.  No etcd needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cunit_main.h"
#include "etcd/etcd.h"

enum srv_mode {
	SRV_NORMAL,   /* answer every request */
	SRV_DROP,     /* read the request, close without answering */
	SRV_HANG,     /* watch: send "created", then nothing */
};

struct srv {
	int lfd;
	int port;
	enum srv_mode mode;
	pthread_t th;
	int conns;            /* connections accepted */
	int reqs;             /* requests read */
	char path[64];        /* last request's path */
};

#define CREATED "{\"result\":{\"header\":{\"revision\":\"6\"},\"created\":true}}\n"
#define EVENTS \
	"{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"kv\":{\"key\":" \
	"\"YS8x\",\"create_revision\":\"7\",\"mod_revision\":\"7\",\"version\":\"1\"," \
	"\"value\":\"aGVsbG8=\"}}]}}\n" \
	"{\"result\":{\"header\":{\"revision\":\"8\"},\"events\":[{\"type\":\"DELETE\"," \
	"\"kv\":{\"key\":\"YS8x\",\"mod_revision\":\"8\"}}]}}\n"

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void send_chunk(int fd, const char *p, size_t n)
{
	char hdr[32];

	snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
	send_all(fd, hdr, strlen(hdr));
	send_all(fd, p, n);
	send_all(fd, "\r\n", 2);
	usleep(2000);   /* separate TCP segments: separate write callbacks */
}

/* Read one request (headers + Content-Length body).  false: closed. */
static bool read_request(struct srv *s, int fd)
{
	char buf[8192], *end, *cl;
	size_t len = 0, want;

	for (;;) {
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (r <= 0)
			return false;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
	}
	sscanf(buf, "POST %63s", s->path);
	cl = strcasestr(buf, "content-length:");
	want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
	while (len < want) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r <= 0)
			return false;
		len += (size_t)r;
	}
	s->reqs++;
	return true;
}

static void answer_json(int fd, const char *body)
{
	char hdr[128];

	snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", strlen(body));
	send_all(fd, hdr, strlen(hdr));
	send_all(fd, body, strlen(body));
}

/* The watch body in chunks of 1, 2, 3, 5, 8, ... bytes: cuts fall inside
 * keys, strings and between "}" and "\n". */
static void answer_watch(struct srv *s, int fd)
{
	static const char body[] = CREATED EVENTS;
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n";
	size_t off = 0, a = 1, b = 2;

	send_all(fd, hdr, strlen(hdr));
	if (s->mode == SRV_HANG) {
		send_chunk(fd, CREATED, strlen(CREATED));
		usleep(1500 * 1000);
		return;
	}
	while (off < sizeof(body) - 1) {
		size_t n = a < sizeof(body) - 1 - off ? a : sizeof(body) - 1 - off;

		send_chunk(fd, body + off, n);
		off += n;
		b += a;
		a = b - a;
	}
	send_all(fd, "0\r\n\r\n", 5);
}

static void serve_conn(struct srv *s, int fd)
{
	while (read_request(s, fd)) {
		if (s->mode == SRV_DROP)
			return;
		if (strcmp(s->path, "/v3/watch") == 0) {
			answer_watch(s, fd);
			return;   /* a watch is the connection's last request */
		}
		answer_json(fd, "{\"header\":{\"revision\":\"7\"}}");
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0)
			return NULL;   /* listening socket shut down */
		s->conns++;
		serve_conn(s, fd);
		close(fd);
	}
}

static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void srv_start(struct srv *s, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lfd = listen_any(&s->port);
	CU_ASSERT_FATAL(listen(s->lfd, 8) == 0);
	CU_ASSERT_FATAL(pthread_create(&s->th, NULL, srv_main, s) == 0);
}

static void srv_stop(struct srv *s)
{
	shutdown(s->lfd, SHUT_RDWR);   /* wakes accept() */
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* A port nothing listens on: bound, never listened to, closed. */
static int dead_port(void)
{
	int port, fd = listen_any(&port);

	close(fd);
	return port;
}

static struct dsm_etcd *client_for(const char *fmt, int p1, int p2, unsigned ms)
{
	char eps[128];
	struct dsm_etcd *c;

	snprintf(eps, sizeof(eps), fmt, p1, p2);
	c = dsm_etcd_new(eps, ms, NULL);
	CU_ASSERT_FATAL(c != NULL);
	return c;
}

static void test_keepalive_one_connection(void)
{
	struct srv s;
	struct dsm_etcd *c;
	int64_t rev = 0;

	srv_start(&s, SRV_NORMAL);
	c = client_for("http://127.0.0.1:%d", s.port, 0, 2000);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, &rev), 0);
		CU_ASSERT_EQUAL(rev, 7);
	}
	dsm_etcd_free(c);
	srv_stop(&s);
	CU_ASSERT_STRING_EQUAL(s.path, "/v3/kv/put");
	CU_ASSERT_EQUAL(s.reqs, 3);
	CU_ASSERT_EQUAL(s.conns, 1);
}

static void test_failover_on_connection_refused(void)
{
	struct srv s;
	struct dsm_etcd *c;

	srv_start(&s, SRV_NORMAL);
	c = client_for("http://127.0.0.1:%d,http://127.0.0.1:%d", dead_port(),
		       s.port, 2000);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), 0);
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), 0);
	dsm_etcd_free(c);
	srv_stop(&s);
	CU_ASSERT_EQUAL(s.reqs, 2);
	CU_ASSERT_EQUAL(s.conns, 1);   /* the live one is remembered */
}

static void test_all_endpoints_refused(void)
{
	struct dsm_etcd *c = client_for("http://127.0.0.1:%d,http://127.0.0.1:%d",
					dead_port(), dead_port(), 500);

	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), -ECONNREFUSED);
	CU_ASSERT(strlen(dsm_etcd_last_error(c)) > 0);
	dsm_etcd_free(c);
}

/* The first endpoint took the request and died: it may have applied it,
 * so trying the second one could apply it twice.  Must not fail over. */
static void test_no_failover_once_sent(void)
{
	struct srv a, b;
	struct dsm_etcd *c;

	srv_start(&a, SRV_DROP);
	srv_start(&b, SRV_NORMAL);
	c = client_for("http://127.0.0.1:%d,http://127.0.0.1:%d", a.port, b.port, 2000);
	CU_ASSERT_EQUAL(dsm_etcd_cas(c, "k", "v", 1, 0, 0, NULL, NULL), -ECONNRESET);
	dsm_etcd_free(c);
	srv_stop(&a);
	srv_stop(&b);
	CU_ASSERT_EQUAL(a.reqs, 1);
	CU_ASSERT_EQUAL(b.reqs, 0);
}

struct seen {
	int n;
	char value[4][8];
	int type[4];
};

static int on_event(void *arg, const struct dsm_etcd_event *ev)
{
	struct seen *s = arg;

	if (s->n < 4) {
		snprintf(s->value[s->n], sizeof(s->value[0]), "%s", ev->kv.value);
		s->type[s->n] = ev->type;
	}
	s->n++;
	return 0;
}

static void test_watch_chunked_stream(void)
{
	struct srv s;
	struct dsm_etcd *c;
	struct seen seen = { 0 };
	int64_t next = 0;

	srv_start(&s, SRV_NORMAL);
	c = client_for("http://127.0.0.1:%d", s.port, 0, 2000);
	/* The server ends the stream after the events: a normal end. */
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &seen, 5000, &next), 0);
	CU_ASSERT_EQUAL(seen.n, 2);
	CU_ASSERT_STRING_EQUAL(seen.value[0], "hello");
	CU_ASSERT_EQUAL(seen.type[0], DSM_ETCD_PUT);
	CU_ASSERT_EQUAL(seen.type[1], DSM_ETCD_DELETE);
	CU_ASSERT_EQUAL(next, 9);
	/* The handle still works for ordinary requests afterwards. */
	CU_ASSERT_EQUAL(dsm_etcd_put(c, "k", "v", 1, 0, NULL), 0);
	dsm_etcd_free(c);
	srv_stop(&s);
	CU_ASSERT_EQUAL(s.reqs, 2);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_watch_timeout_returns_zero(void)
{
	struct srv s;
	struct dsm_etcd *c;
	struct seen seen = { 0 };
	int64_t next = 0;
	uint64_t t0;

	srv_start(&s, SRV_HANG);
	c = client_for("http://127.0.0.1:%d", s.port, 0, 2000);
	t0 = now_ms();
	CU_ASSERT_EQUAL(dsm_etcd_watch(c, "a/", 0, on_event, &seen, 300, &next), 0);
	CU_ASSERT(now_ms() - t0 >= 290 && now_ms() - t0 < 1400);
	CU_ASSERT_EQUAL(seen.n, 0);
	CU_ASSERT_EQUAL(next, 7);
	dsm_etcd_free(c);
	srv_stop(&s);
}

static const struct dsm_test tests[] = {
	{ "keepalive_one_connection", test_keepalive_one_connection },
	{ "failover_on_connection_refused", test_failover_on_connection_refused },
	{ "all_endpoints_refused", test_all_endpoints_refused },
	{ "no_failover_once_sent", test_no_failover_once_sent },
	{ "watch_chunked_stream", test_watch_chunked_stream },
	{ "watch_timeout_returns_zero", test_watch_timeout_returns_zero },
};

int main(void)
{
	int rc = DSM_CUNIT_MAIN("etcd_curl", tests, NULL);

	/* The library never tears libcurl down (clients come and go); the
	 * test does, so that valgrind sees no leak. */
	curl_global_cleanup();
	return rc;
}
