/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the YAML node configuration: a full valid file, defaults,
 * and every rejection with the file:line it must report. */
#include <CUnit/Basic.h>
#include "cunit_main.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime/config.h"

static const char valid[] =
	"node:\n"                                   /* 1 */
	"  id: 3\n"
	"  ip: 10.0.0.3\n"
	"  udp_port: 9000\n"
	"  epoch: 7\n"                              /* 5 */
	"ports:\n"
	"  - name: a\n"
	"    vdev: net_memif0\n"
	"    args: role=server,id=0,socket=/tmp/x.sock\n"
	"    mtu: 9000\n"                           /* 10 */
	"  - name: nic\n"
	"    device: 0000:03:00.0\n"
	"peers:\n"
	"  - id: 1\n"
	"    ip: 10.0.0.1\n"                        /* 15 */
	"    mac: 02:00:00:00:00:01\n"
	"    port: a\n"
	"  - id: 2\n"
	"    ip: 10.0.0.2\n"
	"    port: nic\n"                           /* 20 */
	"segments:\n"
	"  - id: 5\n"
	"    name: kv\n"
	"    size: 16M\n"
	"    home: 1\n"                             /* 25 */
	"    prot: r\n"
	"  - id: 6\n"
	"    name: huge\n"
	"    size: 4M\n"
	"    page_size: 2M\n"                       /* 30 */
	"    home: 3\n"
	"tuning:\n"
	"  request_timeout_ms: 250\n"
	"  window: 64\n";

static int parse(const char *text, struct dsm_config *c, char *err)
{
	return dsm_config_parse("t.yaml", text, strlen(text), c, err, 256);
}

static void test_valid(void)
{
	static struct dsm_config c;
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(parse(valid, &c, err), 0);
	CU_ASSERT_EQUAL(c.node_id, 3);
	CU_ASSERT_EQUAL(c.ip, 0x0a000003u);
	CU_ASSERT_EQUAL(c.udp_port, 9000);
	CU_ASSERT_EQUAL(c.epoch, 7);
	CU_ASSERT_EQUAL(c.mac[0], 0x02);          /* derived from the id */
	CU_ASSERT_EQUAL(c.mac[5], 3);
	CU_ASSERT_EQUAL(c.nports, 2);
	CU_ASSERT_STRING_EQUAL(c.ports[0].vdev, "net_memif0");
	CU_ASSERT_STRING_EQUAL(c.ports[0].args, "role=server,id=0,socket=/tmp/x.sock");
	CU_ASSERT_EQUAL(c.ports[0].mtu, 9000);
	CU_ASSERT_EQUAL(c.ports[1].mtu, 1500);     /* default */
	CU_ASSERT_STRING_EQUAL(c.ports[1].device, "0000:03:00.0");
	CU_ASSERT_EQUAL(c.npeers, 2);
	CU_ASSERT_EQUAL(c.peers[0].mac[5], 0x01);
	CU_ASSERT_EQUAL(c.peers[1].port, 1);
	CU_ASSERT_EQUAL(c.peers[1].mac[5], 2);     /* derived */
	CU_ASSERT_EQUAL(c.peers[1].udp_port, DSM_WIRE_UDP_PORT);
	CU_ASSERT_PTR_EQUAL(dsm_config_peer(&c, 2), &c.peers[1]);
	CU_ASSERT_PTR_NULL(dsm_config_peer(&c, 9));
	CU_ASSERT_EQUAL(c.nsegments, 2);
	CU_ASSERT_EQUAL(c.segments[0].size, 16u << 20);
	CU_ASSERT_EQUAL(c.segments[0].page_size, 4096);
	CU_ASSERT_EQUAL(c.segments[0].prot, DSM_PROT_READ);
	CU_ASSERT_EQUAL(c.segments[1].page_size, 2u << 20);
	CU_ASSERT_EQUAL(c.segments[1].prot, DSM_PROT_READ | DSM_PROT_WRITE);
	CU_ASSERT_EQUAL(c.request_timeout_ns, 250000000ull);
	{
		static struct dsm_config d;
		char text[sizeof(valid) + 32];

		/* decimal, not octal */
		snprintf(text, sizeof(text), "%s  max_retx: 010\n", valid);
		CU_ASSERT_EQUAL(parse(text, &d, err), 0);
		CU_ASSERT_EQUAL(d.max_retx, 10);
	}
	CU_ASSERT_EQUAL(c.window, 64);
}

/* Replace line `line` (1-based) of the valid text with `repl` and check the
 * error names that line and contains `want`. */
static void reject_at(int line, const char *repl, int want_line, const char *want)
{
	static struct dsm_config c;
	char text[4096], err[256] = "", prefix[32];
	const char *p = valid;
	size_t off = 0;

	for (int l = 1; *p; l++) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) + 1;

		if (l == line)
			off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", repl);
		else
			off += (size_t)snprintf(text + off, sizeof(text) - off, "%.*s", (int)len, p);
		p += len;
	}
	CU_ASSERT_EQUAL(parse(text, &c, err), -EINVAL);
	snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", want_line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, want))
		printf("\n  line %d '%s': got \"%s\"", line, repl, err);
	CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void test_rejections(void)
{
	reject_at(2, "  id: 0", 2, "not in [1, 63]");
	reject_at(2, "  id: 64", 2, "not in [1, 63]");
	reject_at(2, "  id: -1", 2, "unsigned integer");
	reject_at(2, "  id: three", 2, "not an unsigned integer");
	reject_at(3, "  ip: 10.0.0", 3, "IPv4 address");
	reject_at(4, "  udp_port: 70000", 4, "not in [1, 65535]");
	reject_at(5, "  colour: blue", 5, "unknown key 'node.colour'");
	reject_at(10, "    mtu: 100", 10, "not in [576, 9600]");
	reject_at(12, "    mtu: 1500", 11, "exactly one of vdev or device");
	reject_at(12, "    device: x\n    vdev: net_null0", 11, "exactly one of vdev or device");
	reject_at(16, "    mac: 02:00:00:00:00", 16, "MAC address");
	reject_at(16, "    mac: 02:00:00:00:00:1ff", 16, "MAC byte out of range");
	reject_at(17, "    port: b", 17, "unknown port 'b'");
	reject_at(18, "  - id: 1", 18, "duplicate peer id 1");
	reject_at(18, "  - id: 3", 1, "peer 3 has this node's own id");
	reject_at(24, "    size: 5000", 22, "multiple of page_size");
	reject_at(26, "    prot: x", 26, "'r' or 'rw'");
	reject_at(27, "  - id: 5", 27, "duplicate segment id or name");
	reject_at(30, "    page_size: 8192", 27, "4096 or 2M");
	reject_at(34, "  window: 100", 1, "power of two");
	reject_at(34, "  wndow: 64", 34, "unknown key 'tuning.wndow'");
	reject_at(34, "  rto_max_ms: 1", 1, "rto_max_ms must be at least");
	reject_at(24, "    size: 99999999999G", 24, "out of range");
	reject_at(24, "    size: 0x1000", 24, "not an unsigned integer");
	reject_at(1, "nodes:", 1, "unknown top-level key 'nodes'");
	reject_at(9, "    args: [unterminated", 10, "");   /* YAML syntax */
}

static void test_file_errors(void)
{
	static struct dsm_config c;
	char err[256];

	CU_ASSERT_EQUAL(dsm_config_load("/nonexistent/dsm.yaml", &c, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dsm.yaml: "));
	CU_ASSERT_EQUAL(parse("", &c, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty configuration"));
	CU_ASSERT_EQUAL(parse("node: {id: 1, ip: 10.0.0.1}\nports: 3\n", &c, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:2: 'ports' must be a list");
	CU_ASSERT_EQUAL(parse("node: [1]\n", &c, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "t.yaml:1: expected a mapping");
	CU_ASSERT_EQUAL(parse("node:\n  ip: 10.0.0.1\n", &c, err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "node.id and node.ip are required"));
}

/* The shipped examples (config/, passed as argv[1] by meson) must load. */
static const char *examples_dir;

static void test_examples(void)
{
	static struct dsm_config c;
	static const char *const names[] = { "node1.yaml", "node2.yaml", "node3.yaml",
					     "client11.yaml" };
	char path[512], err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(examples_dir);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", examples_dir, names[i]);
		if (dsm_config_load(path, &c, err, sizeof(err)))
			printf("\n  %s", err);
		CU_ASSERT_EQUAL(dsm_config_load(path, &c, err, sizeof(err)), 0);
		CU_ASSERT(c.npeers > 0 && c.nports == c.npeers);
	}
}

int main(int argc, char **argv)
{
	static const struct dsm_test tests[] = {
		{ "valid", test_valid },
		{ "rejections", test_rejections },
		{ "file_errors", test_file_errors },
		{ "examples", test_examples },
	};

	examples_dir = argc > 1 ? argv[1] : NULL;
	return DSM_CUNIT_MAIN("runtime_config", tests, NULL);
}
