/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Watch over the gateway: one POST /v3/watch with a create_request, then a
 * response that never ends by itself, made of one {"result":{...}} object
 * per message (newline-separated in practice; we do not rely on it).  The
 * transport hands over the body in arbitrary pieces; the splitter below
 * reassembles whole objects, and each is parsed and dispatched.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd_internal.h"

/* ----------------------------------------------------------- splitter */

static int split_append(struct etcd_splitter *s, const char *data, size_t len)
{
	size_t cap = s->cap ? s->cap : 4096;
	char *nb;

	if (len == 0)
		return 0;
	if (len > ETCD_MAX_BODY - s->len)
		return -EMSGSIZE;
	if (s->len + len <= s->cap) {
		memcpy(s->buf + s->len, data, len);
		s->len += len;
		return 0;
	}
	while (cap < s->len + len)
		cap *= 2;
	nb = realloc(s->buf, cap);
	if (nb == NULL)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

/* Drop what has been consumed: everything before the object in progress,
 * or everything scanned when between objects. */
static void split_compact(struct etcd_splitter *s)
{
	size_t from = s->depth > 0 ? s->start : s->pos;

	if (from == 0)
		return;
	memmove(s->buf, s->buf + from, s->len - from);
	s->len -= from;
	s->pos -= from;
	s->start = 0;
}

/* Advance the scanner by one byte inside an object.  Returns true when
 * that byte closed the top-level object. */
static bool split_step(struct etcd_splitter *s, char ch)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (ch == '\\')
			s->esc = true;
		else if (ch == '"')
			s->in_str = false;
		return false;
	}
	if (ch == '"')
		s->in_str = true;
	else if (ch == '{' || ch == '[')
		s->depth++;
	else if (ch == '}' || ch == ']')
		return --s->depth == 0;
	return false;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

static int split_scan(struct etcd_splitter *s, etcd_obj_fn fn, void *arg)
{
	while (s->pos < s->len) {
		char ch = s->buf[s->pos++];

		if (s->depth > 0) {
			if (split_step(s, ch)) {
				int rc = fn(arg, s->buf + s->start, s->pos - s->start);

				if (rc != 0)
					return rc;
			}
		} else if (ch == '{') {
			s->start = s->pos - 1;
			s->depth = 1;
		} else if (!is_space(ch)) {
			return -EPROTO;
		}
	}
	return 0;
}

int etcd_split_feed(struct etcd_splitter *s, const char *data, size_t len,
		    etcd_obj_fn fn, void *arg)
{
	int rc = split_append(s, data, len);

	if (rc < 0)
		return rc;
	rc = split_scan(s, fn, arg);
	split_compact(s);
	return rc;
}

bool etcd_split_partial(const struct etcd_splitter *s)
{
	return s->depth > 0;
}

void etcd_split_free(struct etcd_splitter *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* -------------------------------------------------------------- watch */

struct watch {
	struct dsm_etcd *c;
	dsm_etcd_watch_cb cb;
	void *arg;
	struct etcd_splitter sp;
	long status;        /* known up front only on the post() path */
	int64_t start;
	int64_t next;       /* resume point, see dsm_etcd_watch */
	bool created;
	bool stopped;       /* we ended it: result is the answer */
	int result;
};

static int event_type(const json_t *ev, enum dsm_etcd_event_type *type)
{
	json_t *t = json_object_get(ev, "type");
	const char *s;

	*type = DSM_ETCD_PUT;   /* PUT is 0, so the gateway omits it */
	if (t == NULL || json_is_null(t))
		return 0;
	if (json_is_integer(t) && (json_integer_value(t) == 0 ||
				   json_integer_value(t) == 1)) {
		*type = (enum dsm_etcd_event_type)json_integer_value(t);
		return 0;
	}
	s = json_is_string(t) ? json_string_value(t) : "";
	if (strcmp(s, "PUT") == 0)
		return 0;
	if (strcmp(s, "DELETE") == 0) {
		*type = DSM_ETCD_DELETE;
		return 0;
	}
	return -EPROTO;
}

static int parse_event(const json_t *o, struct dsm_etcd_event *ev)
{
	json_t *kv;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(o))
		return -EPROTO;
	rc = event_type(o, &ev->type);
	if (rc == 0)
		rc = etcd_get_obj(o, "kv", &kv);
	if (rc == 0 && kv == NULL)
		rc = -EPROTO;
	return rc < 0 ? rc : etcd_parse_kv(kv, &ev->kv);
}

/* The mod_revision of events[i], or 0 if there is none or it is bad. */
static int64_t event_rev(const json_t *events, size_t i)
{
	json_t *kv = json_object_get(json_array_get(events, i), "kv");
	int64_t rev;

	return etcd_get_i64(kv, "mod_revision", &rev) == 0 ? rev : 0;
}

/* Hand events[i] to the callback and advance the resume point.  A stop
 * in the middle of a revision (a transaction's events come together)
 * resumes at that revision, so its remaining events are not lost. */
static int deliver(struct watch *w, const json_t *events, size_t i)
{
	struct dsm_etcd_event ev;
	int rc = parse_event(json_array_get(events, i), &ev);

	if (rc < 0)
		return etcd_fail(w->c, rc, "watch: bad event");
	rc = w->cb(w->arg, &ev);
	w->next = ev.kv.mod_revision + 1;
	if (rc != 0 && event_rev(events, i + 1) == ev.kv.mod_revision)
		w->next = ev.kv.mod_revision;
	dsm_etcd_kv_clear(&ev.kv);
	return rc;
}

static int on_canceled(struct watch *w, const json_t *res)
{
	json_t *why = json_object_get(res, "cancel_reason");
	int64_t compact;

	if (etcd_get_i64(res, "compact_revision", &compact) < 0)
		return etcd_fail(w->c, -EPROTO, "watch: bad compact_revision");
	if (compact > 0) {
		w->next = compact;
		return etcd_fail(w->c, -ERANGE, "watch: revision %" PRId64
				 " compacted, oldest is %" PRId64, w->start, compact);
	}
	return etcd_fail(w->c, -EIO, "watch canceled: %s",
			 json_is_string(why) ? json_string_value(why) : "no reason");
}

/* "created": a watch from now starts after the header's revision. */
static int on_created(struct watch *w, const json_t *res)
{
	int64_t rev;

	w->created = true;
	if (w->start > 0)
		return 0;
	if (etcd_header_rev(res, &rev) < 0)
		return etcd_fail(w->c, -EPROTO, "watch: bad header");
	w->next = rev + 1;
	return 0;
}

static int on_result(struct watch *w, const json_t *res)
{
	json_t *events;
	bool flag;
	int rc;

	if (etcd_get_bool(res, "canceled", &flag) < 0)
		return etcd_fail(w->c, -EPROTO, "watch: bad canceled");
	if (flag)
		return on_canceled(w, res);
	if (etcd_get_bool(res, "created", &flag) < 0)
		return etcd_fail(w->c, -EPROTO, "watch: bad created");
	if (flag && (rc = on_created(w, res)) < 0)
		return rc;
	if (etcd_get_arr(res, "events", &events) < 0)
		return etcd_fail(w->c, -EPROTO, "watch: bad events");
	for (size_t i = 0; i < json_array_size(events); i++)
		if ((rc = deliver(w, events, i)) != 0)
			return rc;
	return 0;
}

/* One whole JSON object from the stream. */
static int on_object(void *arg, const char *obj, size_t len)
{
	struct watch *w = arg;
	json_error_t jerr;
	json_t *root, *res;
	int rc;

	root = json_loadb(obj, len, 0, &jerr);
	if (root == NULL)
		rc = etcd_fail(w->c, -EPROTO, "watch: bad JSON: %s", jerr.text);
	else if ((rc = etcd_check(w->c, root, w->status, &res)) == 0)
		rc = on_result(w, res);
	json_decref(root);
	if (rc != 0) {
		w->stopped = true;
		w->result = rc;
	}
	return rc;
}

static int on_data(void *arg, const char *data, size_t len)
{
	struct watch *w = arg;
	int rc = etcd_split_feed(&w->sp, data, len, on_object, w);

	if (rc != 0 && !w->stopped) {   /* the splitter's own error */
		w->stopped = true;
		if (w->status / 100 != 2)   /* e.g. a proxy's HTML error page */
			w->result = etcd_fail(w->c, -EIO, "/v3/watch: HTTP %ld",
					      w->status);
		else
			w->result = etcd_fail(w->c, rc, "watch: bad stream framing");
	}
	return rc;
}

/* Without stream(): the whole (finite) body at once. */
static int watch_post(struct watch *w, const char *body, unsigned timeout_ms)
{
	char *resp = NULL;
	int rc;

	rc = w->c->t.post(w->c->t.ctx, "/v3/watch", body, &resp, &w->status,
			  timeout_ms);
	if (rc == 0 && resp != NULL)
		rc = on_data(w, resp, strlen(resp));
	free(resp);
	return rc;
}

/* What the transport's end means.  A timeout or a dropped connection
 * after the watch was created is the normal end of a watch. */
static int watch_end(struct watch *w, int rc)
{
	if (w->stopped)
		return w->result;
	if (rc < 0 && w->created &&
	    (rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -EPIPE))
		return 0;
	if (rc < 0)
		return etcd_fail(w->c, rc, "/v3/watch: %s", strerror(-rc));
	if (w->status / 100 != 2)
		return etcd_fail(w->c, -EIO, "/v3/watch: HTTP %ld", w->status);
	if (etcd_split_partial(&w->sp))
		return etcd_fail(w->c, -EPROTO, "watch: stream ended mid-object");
	return 0;
}

static char *watch_body(const char *prefix, int64_t start)
{
	char *end = malloc(strlen(prefix) + 1), *body = NULL;
	json_t *req;

	if (end == NULL)
		return NULL;
	req = json_pack("{s:{s:o,s:o,s:o}}", "create_request",
			"key", etcd_b64_json(prefix, strlen(prefix)),
			"range_end", etcd_b64_json(end, etcd_prefix_end(prefix, end)),
			"start_revision", json_sprintf("%" PRId64, start));
	free(end);
	if (req != NULL)
		body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return body;
}

int dsm_etcd_watch(struct dsm_etcd *c, const char *prefix,
		   int64_t start_revision, dsm_etcd_watch_cb cb, void *arg,
		   unsigned timeout_ms, int64_t *next_rev)
{
	struct watch w = { .c = c, .cb = cb, .arg = arg, .status = 200,
			   .start = start_revision, .next = start_revision };
	char *body;
	int rc;

	c->last_error[0] = '\0';
	if (start_revision < 0 || timeout_ms == 0 || cb == NULL)
		return etcd_fail(c, -EINVAL, "watch: bad arguments");
	body = watch_body(prefix, start_revision);
	if (body == NULL)
		return etcd_fail(c, -ENOMEM, "watch: out of memory");
	if (c->t.stream != NULL)
		rc = c->t.stream(c->t.ctx, "/v3/watch", body, on_data, &w,
				 &w.status, timeout_ms);
	else
		rc = watch_post(&w, body, timeout_ms);
	free(body);
	rc = watch_end(&w, rc);
	etcd_split_free(&w.sp);
	if (next_rev != NULL)
		*next_rev = w.next;
	return rc;
}
