/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/nodetel.h"
#include "dsmctl/telemetry_client.h"

unsigned dsmctl_local_nodes(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			    unsigned only, unsigned *ids)
{
	unsigned n = 0;

	for (unsigned id = 1; id <= DSMCTL_MAX_NODE; id++)
		if ((!only || id == only) && dsmctl_local_tel(c, cl, id))
			ids[n++] = id;
	return n;
}

int dsmctl_node_query(const struct dsmctl *c, const struct dsmctl_cluster *cl,
		      unsigned id, const char *cmd, json_t **out)
{
	const char *path = dsmctl_local_tel(c, cl, id);
	int ret = path ? dsmctl_tel_query(path, cmd, DSMCTL_TEL_TIMEOUT_MS, out) : -ENOENT;

	static uint64_t warned;   /* once per node: a command asks several times */

	/* -ENOTSUP (a command this node does not have) is the caller's to
	 * explain: it knows what is missing. */
	if (ret && ret != -ENOTSUP && !dsmctl_bit(warned, id)) {
		warned |= UINT64_C(1) << id;
		dsmctl_err(DSMCTL_OK, "warning: node %u: telemetry %s: %s", id,
			   path ? path : "(none)", strerror(-ret));
	}
	return ret;
}

uint64_t dsmctl_tel_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return json_is_true(v) ? 1 : 0;
}

static struct dsmctl_seg *seg_slot(struct dsmctl_segs *segs, uint32_t id)
{
	struct dsmctl_seg *grown;
	unsigned i;

	for (i = 0; i < segs->n && segs->s[i].id <= id; i++)
		if (segs->s[i].id == id)
			return &segs->s[i];
	grown = realloc(segs->s, (segs->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	segs->s = grown;
	/* Keep them sorted by id: tables and JSON list them in that order. */
	memmove(&grown[i + 1], &grown[i], (segs->n - i) * sizeof(*grown));
	segs->n++;
	memset(&grown[i], 0, sizeof(*grown));
	grown[i].id = id;
	return &grown[i];
}

int dsmctl_segs_add(struct dsmctl_segs *segs, unsigned node, json_t *answer)
{
	const char *name;
	json_t *v;

	json_object_foreach(answer, name, v) {
		struct dsmctl_seg *s;
		const char *prot = json_string_value(json_object_get(v, "prot"));

		if (!json_is_object(v) || !json_object_get(v, "id"))
			continue;
		s = seg_slot(segs, (uint32_t)dsmctl_tel_u64(v, "id"));
		if (!s)
			return -ENOMEM;
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->home = (unsigned)dsmctl_tel_u64(v, "home");
		s->size = dsmctl_tel_u64(v, "size");
		s->page_size = dsmctl_tel_u64(v, "page_size");
		s->pages = dsmctl_tel_u64(v, "pages");
		snprintf(s->prot, sizeof(s->prot), "%s", prot ? prot : "-");
		if (node < 64)
			s->nodes |= UINT64_C(1) << node;
	}
	return 0;
}

void dsmctl_segs_free(struct dsmctl_segs *segs)
{
	free(segs->s);
	segs->s = NULL;
	segs->n = 0;
}

int dsmctl_segs_collect(const struct dsmctl *c, const struct dsmctl_cluster *cl,
			const unsigned *ids, unsigned n, struct dsmctl_segs *segs)
{
	int ret = 0;

	memset(segs, 0, sizeof(*segs));
	for (unsigned i = 0; i < n && ret == 0; i++) {
		json_t *a = NULL;

		if (dsmctl_node_query(c, cl, ids[i], "/dsm/segments", &a) == 0 &&
		    json_is_object(a))
			ret = dsmctl_segs_add(segs, ids[i], a);
		json_decref(a);
	}
	return ret;
}

const struct dsmctl_seg *dsmctl_segs_find(const struct dsmctl_segs *segs, const char *s)
{
	bool digits = s[0] != '\0' && strspn(s, "0123456789") == strlen(s);
	unsigned long long id = digits ? strtoull(s, NULL, 10) : 0;

	for (unsigned i = 0; i < segs->n; i++)
		if ((digits && segs->s[i].id == id) || !strcmp(segs->s[i].name, s))
			return &segs->s[i];
	return NULL;
}
