/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * YAML node configuration.  Layout (examples in the config folder):
 *
 *   node:     { id, ip, mac, udp_port, epoch }
 *   ports:    [ { name, vdev, args, device, mtu } ]
 *   peers:    [ { id, ip, mac, port, udp_port } ]
 *   segments: [ { id, name, size, page_size, home, prot } ]
 *   cluster:  { name, etcd, etcd_port, lease_ttl_s, state_dir, workloads }
 *   tuning:   { request_timeout_ms, home_timeout_ms, retry_base_us, retry_max_us,
 *               max_retries, window, rto_us, rto_min_us, rto_max_ms, max_retx,
 *               mbufs,
 *               fault_drop_pct, fault_dup_pct, fault_seed }
 *
 * Unknown keys are errors (a typo must not silently mean "default").
 */
#include "runtime/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct parser {
	const char *name;
	yaml_document_t *doc;
	yaml_node_t *key;       /* key of the field being parsed: its line */
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off = snprintf(p->err, p->errlen, "%s:%zu: ", p->name,
			   n ? n->start_mark.line + 1 : 0);

	if (off < 0 || (size_t)off >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + off, p->errlen - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Decimal unsigned integer with an optional K/M/G (binary) suffix, within
 * [lo, hi].  Decimal only: "010" is ten, not an octal eight. */
static int get_u64(struct parser *p, const yaml_node_t *n, uint64_t lo, uint64_t hi,
		   uint64_t *out)
{
	const char *s = scalar(n);
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+')
		return fail(p, n, "expected an unsigned integer");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return fail(p, n, "integer '%s' out of range", s);
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	default: break;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return fail(p, n, "integer '%s' out of range", s);
	v <<= shift;
	if (*end)
		return fail(p, n, "'%s' is not an unsigned integer", s);
	if (v < lo || v > hi)
		return fail(p, n, "value %llu not in [%llu, %llu]", v,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = v;
	return 0;
}

#define GET_NUM(p, n, lo, hi, dst) ({                      \
	uint64_t v_;                                           \
	int r_ = get_u64(p, n, lo, hi, &v_);                   \
	if (!r_) (dst) = (__typeof__(dst))v_;                  \
	r_; })

static int get_str(struct parser *p, const yaml_node_t *n, char *dst, size_t len)
{
	const char *s = scalar(n);

	if (!s)
		return fail(p, n, "expected a string");
	if (strlen(s) >= len)
		return fail(p, n, "string longer than %zu characters", len - 1);
	strcpy(dst, s);
	return 0;
}

static int get_ip(struct parser *p, const yaml_node_t *n, uint32_t *ip)
{
	const char *s = scalar(n);
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return fail(p, n, "expected an IPv4 address");
	*ip = ntohl(a.s_addr);
	return 0;
}

static int get_mac(struct parser *p, const yaml_node_t *n, uint8_t mac[6])
{
	const char *s = scalar(n);
	unsigned int b[6];
	char tail;

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3],
			 &b[4], &b[5], &tail) != 6)
		return fail(p, n, "expected a MAC address aa:bb:cc:dd:ee:ff");
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return fail(p, n, "MAC byte out of range");
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* Locally administered MAC derived from a node id, when none is given. */
static void default_mac(uint16_t id, uint8_t mac[6])
{
	const uint8_t m[6] = { 0x02, 0xd5, 0x00, 0x00, (uint8_t)(id >> 8), (uint8_t)id };

	memcpy(mac, m, 6);
}

typedef int (*field_fn)(struct parser *p, const char *key, yaml_node_t *val, void *obj);

/* Call fn for every key of a mapping node. */
static int each_field(struct parser *p, yaml_node_t *map, field_fn fn, void *obj)
{
	yaml_node_pair_t *pair;

	if (map->type != YAML_MAPPING_NODE)
		return fail(p, map, "expected a mapping");
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *key = scalar(k);
		int rc;

		if (!key)
			return fail(p, k, "mapping keys must be strings");
		p->key = k;
		rc = fn(p, key, v, obj);
		if (rc)
			return rc;
	}
	return 0;
}

static int node_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct dsm_config *c = obj;

	if (!strcmp(key, "id"))
		return GET_NUM(p, v, 1, DSM_MAX_NODES - 1, c->node_id);
	if (!strcmp(key, "ip"))
		return get_ip(p, v, &c->ip);
	if (!strcmp(key, "mac"))
		return get_mac(p, v, c->mac);
	if (!strcmp(key, "udp_port"))
		return GET_NUM(p, v, 1, 65535, c->udp_port);
	if (!strcmp(key, "epoch"))
		return GET_NUM(p, v, 1, UINT64_MAX, c->epoch);
	if (!strcmp(key, "kmod"))
		return get_str(p, v, c->kmod_device, sizeof(c->kmod_device));
	if (!strcmp(key, "socket"))
		return get_str(p, v, c->socket_path, sizeof(c->socket_path));
	return fail(p, p->key, "unknown key 'node.%s'", key);
}

static int port_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct dsm_cfg_port *pt = obj;

	if (!strcmp(key, "name"))
		return get_str(p, v, pt->name, sizeof(pt->name));
	if (!strcmp(key, "vdev"))
		return get_str(p, v, pt->vdev, sizeof(pt->vdev));
	if (!strcmp(key, "args"))
		return get_str(p, v, pt->args, sizeof(pt->args));
	if (!strcmp(key, "device"))
		return get_str(p, v, pt->device, sizeof(pt->device));
	if (!strcmp(key, "mtu"))
		return GET_NUM(p, v, 576, 9600, pt->mtu);
	return fail(p, p->key, "unknown key 'ports[].%s'", key);
}

struct peer_ctx {
	struct dsm_config *cfg;
	struct dsm_cfg_peer *peer;
	bool has_port, has_mac;
};

static int peer_port(struct parser *p, yaml_node_t *v, struct peer_ctx *pc)
{
	const char *s = scalar(v);

	for (uint32_t i = 0; s && i < pc->cfg->nports; i++) {
		if (!strcmp(pc->cfg->ports[i].name, s)) {
			pc->peer->port = (uint16_t)i;
			pc->has_port = true;
			return 0;
		}
	}
	return fail(p, v, "peer refers to unknown port '%s' (ports must be listed first)",
		    s ? s : "?");
}

static int peer_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct peer_ctx *pc = obj;

	if (!strcmp(key, "id"))
		return GET_NUM(p, v, 1, DSM_MAX_NODES - 1, pc->peer->id);
	if (!strcmp(key, "ip"))
		return get_ip(p, v, &pc->peer->ip);
	if (!strcmp(key, "mac")) {
		pc->has_mac = true;
		return get_mac(p, v, pc->peer->mac);
	}
	if (!strcmp(key, "port"))
		return peer_port(p, v, pc);
	if (!strcmp(key, "udp_port"))
		return GET_NUM(p, v, 1, 65535, pc->peer->udp_port);
	return fail(p, p->key, "unknown key 'peers[].%s'", key);
}

static int parse_prot(struct parser *p, yaml_node_t *v, uint16_t *prot)
{
	const char *s = scalar(v);

	if (s && !strcmp(s, "r")) {
		*prot = DSM_PROT_READ;
		return 0;
	}
	if (s && !strcmp(s, "rw")) {
		*prot = DSM_PROT_READ | DSM_PROT_WRITE;
		return 0;
	}
	return fail(p, v, "prot must be 'r' or 'rw'");
}

static int segment_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct dsm_cfg_segment *s = obj;

	if (!strcmp(key, "id"))
		return GET_NUM(p, v, 1, DSM_SEG_ALL - 1, s->id);
	if (!strcmp(key, "name"))
		return get_str(p, v, s->name, sizeof(s->name));
	if (!strcmp(key, "size"))
		return GET_NUM(p, v, 4096, 1ull << 40, s->size);
	if (!strcmp(key, "page_size"))
		return GET_NUM(p, v, 4096, 2u << 20, s->page_size);
	if (!strcmp(key, "home"))
		return GET_NUM(p, v, 1, DSM_MAX_NODES - 1, s->home);
	if (!strcmp(key, "prot"))
		return parse_prot(p, v, &s->prot);
	return fail(p, p->key, "unknown key 'segments[].%s'", key);
}

/* Numeric tuning keys: range as written in the file, and the factor that
 * turns the file's unit into the field's (ms/us -> ns). */
struct num_key {
	const char *key;
	uint64_t lo, hi, scale;
	size_t off, size;
};

#define NUM_KEY(k, lo, hi, scale, field) \
	{ k, lo, hi, scale, offsetof(struct dsm_config, field), \
	  sizeof(((struct dsm_config *)0)->field) }

static const struct num_key tuning_keys[] = {
	NUM_KEY("request_timeout_ms", 1, 3600000, 1000000, request_timeout_ns),
	NUM_KEY("home_timeout_ms", 1, 3600000, 1000000, home_timeout_ns),
	NUM_KEY("retry_base_us", 1, 1000000, 1000, retry_base_ns),
	NUM_KEY("retry_max_us", 1, 10000000, 1000, retry_max_ns),
	NUM_KEY("max_retries", 0, 100000, 1, max_retries),
	NUM_KEY("window", 8, 4096, 1, window),
	NUM_KEY("rto_us", 10, 10000000, 1000, rto_ns),
	NUM_KEY("rto_min_us", 1, 10000000, 1000, rto_min_ns),
	NUM_KEY("rto_max_ms", 1, 60000, 1000000, rto_max_ns),
	NUM_KEY("max_retx", 1, 1000, 1, max_retx),
	NUM_KEY("mbufs", 1024, 1u << 22, 1, mbufs),
	NUM_KEY("fault_drop_pct", 0, 50, 1, fault_drop_pct),
	NUM_KEY("fault_dup_pct", 0, 50, 1, fault_dup_pct),
	NUM_KEY("fault_seed", 0, UINT64_MAX, 1, fault_seed),
};

static int tuning_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	for (size_t i = 0; i < sizeof(tuning_keys) / sizeof(tuning_keys[0]); i++) {
		const struct num_key *k = &tuning_keys[i];
		uint8_t *field = (uint8_t *)obj + k->off;
		uint64_t x;
		int rc;

		if (strcmp(key, k->key))
			continue;
		rc = get_u64(p, v, k->lo, k->hi, &x);
		if (rc)
			return rc;
		x *= k->scale;
		if (k->size == sizeof(uint32_t))
			*(uint32_t *)field = (uint32_t)x;
		else
			*(uint64_t *)field = x;
		return 0;
	}
	return fail(p, p->key, "unknown key 'tuning.%s'", key);
}

static int parse_list(struct parser *p, yaml_node_t *seq, const char *what,
		      uint32_t max, uint32_t *count,
		      int (*item)(struct parser *, yaml_node_t *, uint32_t, void *), void *obj)
{
	yaml_node_item_t *it;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(p, seq, "'%s' must be a list", what);
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(p->doc, *it);
		int rc;

		if (*count >= max)
			return fail(p, n, "too many %s (max %u)", what, max);
		rc = item(p, n, *count, obj);
		if (rc)
			return rc;
		(*count)++;
	}
	return 0;
}

static int port_item(struct parser *p, yaml_node_t *n, uint32_t i, void *obj)
{
	struct dsm_config *c = obj;
	struct dsm_cfg_port *pt = &c->ports[i];
	int rc;

	pt->mtu = 1500;
	rc = each_field(p, n, port_field, pt);
	if (rc)
		return rc;
	if (!pt->name[0])
		return fail(p, n, "port needs a name");
	if (!pt->vdev[0] == !pt->device[0])
		return fail(p, n, "port '%s' needs exactly one of vdev or device", pt->name);
	for (uint32_t j = 0; j < i; j++)
		if (!strcmp(c->ports[j].name, pt->name))
			return fail(p, n, "duplicate port name '%s'", pt->name);
	return 0;
}

static int peer_item(struct parser *p, yaml_node_t *n, uint32_t i, void *obj)
{
	struct dsm_config *c = obj;
	struct peer_ctx pc = { .cfg = c, .peer = &c->peers[i] };
	int rc;

	pc.peer->udp_port = DSM_WIRE_UDP_PORT;
	rc = each_field(p, n, peer_field, &pc);
	if (rc)
		return rc;
	if (!pc.peer->id || !pc.peer->ip || !pc.has_port)
		return fail(p, n, "peer needs id, ip and port");
	if (!pc.has_mac)
		default_mac(pc.peer->id, pc.peer->mac);
	for (uint32_t j = 0; j < i; j++)
		if (c->peers[j].id == pc.peer->id)
			return fail(p, n, "duplicate peer id %u", pc.peer->id);
	return 0;
}

static int segment_item(struct parser *p, yaml_node_t *n, uint32_t i, void *obj)
{
	struct dsm_config *c = obj;
	struct dsm_cfg_segment *s = &c->segments[i];
	int rc;

	s->page_size = 4096;
	s->prot = DSM_PROT_READ | DSM_PROT_WRITE;
	rc = each_field(p, n, segment_field, s);
	if (rc)
		return rc;
	if (!s->id || !s->name[0] || !s->size || !s->home)
		return fail(p, n, "segment needs id, name, size and home");
	if (s->page_size != 4096 && s->page_size != (2u << 20))
		return fail(p, n, "page_size must be 4096 or 2M");
	if (s->size % s->page_size)
		return fail(p, n, "size must be a multiple of page_size");
	for (uint32_t j = 0; j < i; j++)
		if (c->segments[j].id == s->id || !strcmp(c->segments[j].name, s->name))
			return fail(p, n, "duplicate segment id or name");
	return 0;
}

static int get_bool(struct parser *p, yaml_node_t *v, bool *out)
{
	const char *s = scalar(v);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) {
		*out = true;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) {
		*out = false;
		return 0;
	}
	return fail(p, v, "expected true or false");
}

static int cluster_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct dsm_cfg_cluster *cl = obj;

	if (!strcmp(key, "name"))
		return get_str(p, v, cl->name, sizeof(cl->name));
	if (!strcmp(key, "etcd"))
		return get_str(p, v, cl->etcd, sizeof(cl->etcd));
	if (!strcmp(key, "etcd_port"))
		return GET_NUM(p, v, 1, 65535, cl->etcd_port);
	if (!strcmp(key, "lease_ttl_s"))
		return GET_NUM(p, v, 1, 3600, cl->lease_ttl_s);
	if (!strcmp(key, "state_dir"))
		return get_str(p, v, cl->state_dir, sizeof(cl->state_dir));
	if (!strcmp(key, "workloads"))
		return get_bool(p, v, &cl->workloads);
	return fail(p, p->key, "unknown key 'cluster.%s'", key);
}

static int top_field(struct parser *p, const char *key, yaml_node_t *v, void *obj)
{
	struct dsm_config *c = obj;

	if (!strcmp(key, "cluster")) {
		c->cluster.enabled = true;
		return each_field(p, v, cluster_field, &c->cluster);
	}
	if (!strcmp(key, "node"))
		return each_field(p, v, node_field, c);
	if (!strcmp(key, "ports"))
		return parse_list(p, v, "ports", DSM_CFG_MAX_PORTS, &c->nports, port_item, c);
	if (!strcmp(key, "peers"))
		return parse_list(p, v, "peers", DSM_CFG_MAX_PEERS, &c->npeers, peer_item, c);
	if (!strcmp(key, "segments"))
		return parse_list(p, v, "segments", DSM_CFG_MAX_SEGMENTS, &c->nsegments,
				  segment_item, c);
	if (!strcmp(key, "tuning"))
		return each_field(p, v, tuning_field, c);
	return fail(p, p->key, "unknown top-level key '%s'", key);
}

static void set_defaults(struct dsm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->udp_port = DSM_WIRE_UDP_PORT;
	c->epoch = 1;
	c->request_timeout_ns = 1000ull * 1000000;
	c->home_timeout_ns = 500ull * 1000000;
	/* BUSY retries: 20 us doubling to a 1 ms cap (a contended transaction
	 * takes a few hops), as many as fit in the request deadline. */
	c->retry_base_ns = 20ull * 1000;
	c->retry_max_ns = 1000ull * 1000;
	c->max_retries = 1000;
	c->window = 256;
	/* Retransmission: the RTO adapts to the measured round trip (from a
	 * 5 ms start, within 2 ms .. 200 ms; the floor is a CFS time slice,
	 * because a peer sharing cores is often descheduled that long and a
	 * lower floor only buys spurious retransmissions - on dedicated cores
	 * set rto_min_us lower).  A peer is declared unreachable
	 * after 20 unanswered retransmissions of one frame, i.e. 2.5 s or more:
	 * on a shared 2-core machine a live peer can be descheduled for a good
	 * fraction of a second, and a false "unreachable" costs it every page
	 * it holds. */
	c->rto_ns = 5000ull * 1000;
	c->rto_min_ns = 2000ull * 1000;
	c->rto_max_ns = 200ull * 1000 * 1000;
	c->max_retx = 20;
	c->mbufs = 8192;
	snprintf(c->cluster.name, sizeof(c->cluster.name), "dsm");
	c->cluster.etcd_port = 23790;     /* not etcd's 2379: never someone else's */
	c->cluster.lease_ttl_s = 5;
	snprintf(c->cluster.state_dir, sizeof(c->cluster.state_dir), "/var/lib/dsm");
	c->cluster.workloads = true;
}

static int check_whole(struct parser *p, struct dsm_config *c, yaml_node_t *root)
{
	if (!c->node_id || !c->ip)
		return fail(p, root, "node.id and node.ip are required");
	if (!c->mac[0] && !c->mac[1] && !c->mac[5])
		default_mac(c->node_id, c->mac);
	for (uint32_t i = 0; i < c->npeers; i++)
		if (c->peers[i].id == c->node_id)
			return fail(p, root, "peer %u has this node's own id", c->node_id);
	if (c->window & (c->window - 1))
		return fail(p, root, "tuning.window must be a power of two");
	if (c->cluster.enabled && !c->cluster.name[0])
		return fail(p, root, "cluster.name must not be empty");
	if (c->cluster.enabled && strncmp(c->cluster.etcd, "http://", 7) && c->cluster.etcd[0])
		return fail(p, root, "cluster.etcd must be http://host:port[,...]");
	if (c->rto_max_ns < c->rto_ns || c->rto_max_ns < c->rto_min_ns)
		return fail(p, root, "tuning.rto_max_ms must be at least rto_us and rto_min_us");
	return 0;
}

int dsm_config_parse(const char *name, const char *text, size_t len,
		     struct dsm_config *cfg, char *err, size_t errlen)
{
	struct parser p = { .name = name, .err = err, .errlen = errlen };
	yaml_parser_t yp;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc;

	set_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	yaml_parser_initialize(&yp);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &doc)) {
		snprintf(err, errlen, "%s:%zu: %s", name, yp.problem_mark.line + 1,
			 yp.problem ? yp.problem : "YAML syntax error");
		yaml_parser_delete(&yp);
		return -EINVAL;
	}
	p.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = fail(&p, NULL, "empty configuration");
	else
		rc = each_field(&p, root, top_field, cfg);
	if (!rc)
		rc = check_whole(&p, cfg, root);
	yaml_document_delete(&doc);
	yaml_parser_delete(&yp);
	return rc;
}

int dsm_config_load(const char *path, struct dsm_config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(err, errlen, "%s: cannot determine size", path);
		return -EIO;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		snprintf(err, errlen, "%s: read error", path);
		return -EIO;
	}
	fclose(f);
	buf[len] = '\0';
	rc = dsm_config_parse(path, buf, (size_t)len, cfg, err, errlen);
	free(buf);
	return rc;
}

const struct dsm_cfg_peer *dsm_config_peer(const struct dsm_config *cfg, uint16_t id)
{
	for (uint32_t i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
}
