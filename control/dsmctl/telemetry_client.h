/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client of DPDK's telemetry v2 socket (what dpdk-telemetry.py speaks):
 * a unix SOCK_SEQPACKET socket that greets with a JSON hello, then answers
 * each command ("/dsm/stats", "/dsm/page,1,0") with one message
 * {"<command>": value}.  Short timeouts: a node that does not answer is
 * shown as unreachable, it does not hold the operator up.
 */
#ifndef DSM_CONTROL_DSMCTL_TELEMETRY_CLIENT_H
#define DSM_CONTROL_DSMCTL_TELEMETRY_CLIENT_H

#include <jansson.h>

#define DSMCTL_TEL_TIMEOUT_MS 1000
#define DSMCTL_TEL_MAX_REPLY  16384   /* DPDK's own limit on a reply */

/*
 * Run cmd on the socket at path.  On 0, *out is the value under the
 * command's name (a new reference).  -ENOENT/-ECONNREFUSED: no node
 * there; -ETIMEDOUT; -EPROTO: not a telemetry socket or bad JSON;
 * -ENOTSUP: the answer was null (unknown command, or parameters it
 * refused); -ENAMETOOLONG: path too long for a unix socket.
 */
int dsmctl_tel_query(const char *path, const char *cmd, unsigned timeout_ms, json_t **out);

#endif /* DSM_CONTROL_DSMCTL_TELEMETRY_CLIENT_H */
