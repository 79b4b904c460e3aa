/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libcurl transport: one easy handle per client, so consecutive requests
 * reuse one kept-alive connection to the endpoint that last answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "etcd/etcd_internal.h"

#define MAX_ENDPOINTS 16
/* Floor of one endpoint's connect timeout: loopback and LAN connects take
 * microseconds, but a loaded 2-core box may not schedule etcd at once. */
#define MIN_CONNECT_MS 100

struct curl_tr {
	CURL *h;
	struct curl_slist *hdrs;
	char *eps[MAX_ENDPOINTS];
	size_t n_eps;
	size_t cur;          /* endpoint that answered last */
};

/* Where a response body goes: a buffer (post) or a callback (stream). */
struct sink {
	char *buf;
	size_t len, cap;
	dsm_etcd_data_fn fn;
	void *arg;
	int fn_rc;           /* fn's non-zero return: we aborted */
	int err;             /* -ENOMEM / -EMSGSIZE while buffering */
	CURL *h;
	long *status;
	bool status_set;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

/* curl_global_init is not safe to race with other threads' curl calls
 * (in older libcurl), and never undone: clients come and go, the process
 * keeps the library. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------- endpoints */

/* Copy one endpoint, trimmed, without trailing '/'; NULL if not a URL. */
static char *endpoint_dup(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '/'))
		n--;
	if (!(n > 7 && strncmp(s, "http://", 7) == 0) &&
	    !(n > 8 && strncmp(s, "https://", 8) == 0))
		return NULL;
	return strndup(s, n);
}

static int parse_endpoints(struct curl_tr *tr, const char *list)
{
	const char *p = list;

	if (list == NULL)
		return -EINVAL;
	for (;;) {
		size_t n = strcspn(p, ",");

		if (tr->n_eps == MAX_ENDPOINTS)
			return -EINVAL;
		tr->eps[tr->n_eps] = endpoint_dup(p, n);
		if (tr->eps[tr->n_eps] == NULL)
			return -EINVAL;
		tr->n_eps++;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* --------------------------------------------------------------- body */

static int sink_append(struct sink *s, const char *data, size_t n)
{
	size_t cap = s->cap ? s->cap : 1024;
	char *nb;

	if (n > ETCD_MAX_BODY - s->len)
		return -EMSGSIZE;
	while (cap < s->len + n + 1)
		cap *= 2;
	if (cap != s->cap) {
		nb = realloc(s->buf, cap);
		if (nb == NULL)
			return -ENOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return 0;
}

/* Returning less than n makes curl abort with CURLE_WRITE_ERROR. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->fn == NULL) {
		s->err = sink_append(s, data, n);
		return s->err == 0 ? n : 0;
	}
	if (!s->status_set) {
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, s->status);
		s->status_set = true;
	}
	s->fn_rc = s->fn(s->arg, data, n);
	return s->fn_rc == 0 ? n : 0;
}

/* ----------------------------------------------------------- requests */

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:                  return 0;
	case CURLE_COULDNT_CONNECT:     return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:  return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:       return -ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:        return -ECONNRESET;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
	default:                        return -EIO;
	}
}

/* One attempt at one endpoint. */
static CURLcode perform(struct curl_tr *tr, const char *ep, const char *path,
			const char *body, struct sink *s, long total_ms,
			long connect_ms)
{
	char *url;
	CURLcode rc;

	if (asprintf(&url, "%s%s", ep, path) < 0)
		return CURLE_OUT_OF_MEMORY;
	curl_easy_setopt(tr->h, CURLOPT_URL, url);
	curl_easy_setopt(tr->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(tr->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(tr->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(tr->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(tr->h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(tr->h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	rc = curl_easy_perform(tr->h);
	free(url);
	return rc;
}

/* May the request go to the next endpoint?  Only if this one never got
 * it (nothing sent): a put or a transaction must not be applied twice. */
static bool may_fail_over(struct curl_tr *tr, CURLcode rc, const struct sink *s)
{
	long sent = 0;

	if (rc == CURLE_OK || s->fn_rc != 0 || s->err != 0)
		return false;
	curl_easy_getinfo(tr->h, CURLINFO_REQUEST_SIZE, &sent);
	return sent == 0;
}

/* Try the endpoints in turn, starting with the last good one, within one
 * overall deadline; each gets a share of the time left to connect. */
static int exchange(struct curl_tr *tr, const char *path, const char *body,
		    struct sink *s, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	CURLcode rc = CURLE_OPERATION_TIMEDOUT;

	for (size_t k = 0; k < tr->n_eps; k++) {
		size_t i = (tr->cur + k) % tr->n_eps;
		uint64_t now = now_ms();
		long left = now < deadline ? (long)(deadline - now) : 0;
		long conn = left / (long)(tr->n_eps - k);

		if (left == 0)
			break;
		if (conn < MIN_CONNECT_MS)
			conn = left < MIN_CONNECT_MS ? left : MIN_CONNECT_MS;
		s->len = 0;
		rc = perform(tr, tr->eps[i], path, body, s, left, conn);
		if (!may_fail_over(tr, rc, s)) {
			if (rc == CURLE_OK)
				tr->cur = i;
			break;
		}
	}
	if (s->fn_rc != 0)
		return s->fn_rc;
	if (s->err != 0)
		return s->err;
	if (rc == CURLE_OK)
		curl_easy_getinfo(tr->h, CURLINFO_RESPONSE_CODE, s->status);
	return curl_errno(rc);
}

static int tr_post(void *ctx, const char *path, const char *body, char **resp,
		   long *http_status, unsigned timeout_ms)
{
	struct curl_tr *tr = ctx;
	struct sink s = { .h = tr->h, .status = http_status };
	int rc;

	*resp = NULL;
	*http_status = 0;
	rc = exchange(tr, path, body, &s, timeout_ms);
	if (rc == 0 && s.buf == NULL)
		rc = sink_append(&s, "", 0);   /* an empty body is still a string */
	if (rc < 0) {
		free(s.buf);
		return rc;
	}
	*resp = s.buf;
	return 0;
}

static int tr_stream(void *ctx, const char *path, const char *body,
		     dsm_etcd_data_fn fn, void *arg, long *http_status,
		     unsigned timeout_ms)
{
	struct curl_tr *tr = ctx;
	struct sink s = { .h = tr->h, .status = http_status, .fn = fn, .arg = arg };

	*http_status = 0;
	return exchange(tr, path, body, &s, timeout_ms);
}

static void tr_destroy(void *ctx)
{
	struct curl_tr *tr = ctx;

	if (tr == NULL)
		return;
	if (tr->h != NULL)
		curl_easy_cleanup(tr->h);
	curl_slist_free_all(tr->hdrs);
	for (size_t i = 0; i < tr->n_eps; i++)
		free(tr->eps[i]);
	free(tr);
}

/* Options that never change between requests. */
static int tr_setup(struct curl_tr *tr)
{
	struct curl_slist *h;

	tr->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip before bodies > 1 KiB. */
	h = tr->hdrs ? curl_slist_append(tr->hdrs, "Expect:") : NULL;
	if (h == NULL)
		return -ENOMEM;
	tr->hdrs = h;
	curl_easy_setopt(tr->h, CURLOPT_HTTPHEADER, tr->hdrs);
	curl_easy_setopt(tr->h, CURLOPT_POST, 1L);
	/* Timeouts in a threaded process must not use SIGALRM. */
	curl_easy_setopt(tr->h, CURLOPT_NOSIGNAL, 1L);
	/* etcd is reached directly: an http_proxy in the environment (set for
	 * package downloads, say) must not capture cluster traffic. */
	curl_easy_setopt(tr->h, CURLOPT_PROXY, "");
	curl_easy_setopt(tr->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(tr->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	return 0;
}

int dsm_etcd_transport_curl(const char *endpoints, struct dsm_etcd_transport *t)
{
	struct curl_tr *tr;
	int rc;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -EIO;
	tr = calloc(1, sizeof(*tr));
	if (tr == NULL)
		return -ENOMEM;
	rc = parse_endpoints(tr, endpoints);
	if (rc == 0)
		rc = (tr->h = curl_easy_init()) != NULL ? tr_setup(tr) : -ENOMEM;
	if (rc < 0) {
		tr_destroy(tr);
		return rc;
	}
	*t = (struct dsm_etcd_transport){ .post = tr_post, .ctx = tr,
		.stream = tr_stream, .destroy = tr_destroy };
	return 0;
}
