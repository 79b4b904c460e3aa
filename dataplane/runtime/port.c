/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ethernet ports: a vdev (net_memif, net_ring, net_pcap, ...) created from
 * the config, or an existing device (a NIC on the EAL allow list).  One rx and
 * one tx queue each: the main lcore does all I/O.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_log.h>

#include "runtime/node_internal.h"

#define NB_RXD 1024
#define NB_TXD 1024

/* A memif client connects once, at start: if its server was not listening
 * yet, the link stays down for good.  Restarting the port retries the
 * connection, so nodes may be started in any order. */
static bool port_retries_connect(const struct dsm_cfg_port *cp)
{
	return cp->vdev[0] && strstr(cp->vdev, "memif") && strstr(cp->args, "role=client");
}

/* For a memif client on a filesystem socket: is the server's socket there?
 * Starting a memif client whose connect() fails leaves the PMD's control
 * channel half set up, and starting it again can race with memif's
 * interrupt thread; so a client port is only started once its server is
 * listening.  Abstract sockets cannot be checked: they are just tried. */
static bool memif_server_present(const struct dsm_cfg_port *cp)
{
	const char *s = strstr(cp->args, "socket=");
	char path[DSM_CFG_STR];
	size_t len;

	if (!s || !strstr(cp->args, "socket-abstract=no"))
		return true;
	s += strlen("socket=");
	len = strcspn(s, ",");
	if (len == 0 || len >= sizeof(path))
		return true;
	memcpy(path, s, len);
	path[len] = '\0';
	return access(path, F_OK) == 0;
}

static bool link_up(uint16_t port_id)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(port_id, &link) == 0 &&
	       link.link_status == RTE_ETH_LINK_UP;
}

static int port_lookup(const struct dsm_cfg_port *cp, uint16_t *port_id)
{
	const char *name = cp->vdev[0] ? cp->vdev : cp->device;
	int rc;

	if (cp->vdev[0]) {
		rc = rte_vdev_init(cp->vdev, cp->args);
		if (rc) {
			RTE_LOG(ERR, USER1, "port %s: cannot create vdev %s,%s: %s\n",
				cp->name, cp->vdev, cp->args, strerror(-rc));
			return rc < 0 ? rc : -EINVAL;
		}
	}
	rc = rte_eth_dev_get_port_by_name(name, port_id);
	if (rc)
		RTE_LOG(ERR, USER1, "port %s: no ethdev named %s\n", cp->name, name);
	return rc;
}

/* Give the port the node's MAC (node.mac, by default derived from the node
 * id, as peers' default MACs are), so that frames are addressed to it
 * without relying on promiscuous mode.  A device that refuses keeps its
 * own; peers must then be configured with it (logged). */
static void port_set_mac(struct dsm_node *n, const struct dsm_cfg_port *cp,
			 struct dsm_port_rt *p)
{
	struct rte_ether_addr mac;
	int rc;

	memcpy(mac.addr_bytes, n->cfg.mac, RTE_ETHER_ADDR_LEN);
	rte_eth_macaddr_get(p->port_id, &p->mac);
	/* memif takes its MAC as a devarg (mac=) and cannot change it later. */
	rc = rte_is_same_ether_addr(&mac, &p->mac) ? 0
		: rte_eth_dev_default_mac_addr_set(p->port_id, &mac);
	rte_eth_macaddr_get(p->port_id, &p->mac);
	if (rc)
		RTE_LOG(WARNING, USER1, "port %s: cannot set MAC (%s); it stays "
			RTE_ETHER_ADDR_PRT_FMT ": configure peers with it\n", cp->name,
			strerror(-rc), RTE_ETHER_ADDR_BYTES(&p->mac));
	/* Promiscuous as well: several nodes may share one L2 segment. */
	rte_eth_promiscuous_enable(p->port_id);
}

/* Configure one rx and one tx queue at the MTU the device allows. */
static int port_configure(struct dsm_node *n, const struct dsm_cfg_port *cp,
			  struct dsm_port_rt *p)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	int socket = rte_eth_dev_socket_id(p->port_id);
	int rc = rte_eth_dev_info_get(p->port_id, &info);

	if (rc)
		return rc;
	/* Pages travel in one frame only when the port's MTU allows it (memif
	 * in DPDK 22.11 stops at 1500): use what the device can do. */
	p->mtu = RTE_MIN(cp->mtu, info.max_mtu);
	if (p->mtu < cp->mtu)
		RTE_LOG(WARNING, USER1, "port %s: device allows MTU <= %u, using %u instead of %u\n",
			cp->name, info.max_mtu, p->mtu, cp->mtu);
	p->frag_payload = (uint16_t)RTE_MIN(DSM_FRAG_PAYLOAD(p->mtu), DSM_MAX_FRAG_PAYLOAD);
	conf.rxmode.mtu = p->mtu;
	rc = rte_eth_dev_configure(p->port_id, 1, 1, &conf);
	if (!rc)
		rc = rte_eth_rx_queue_setup(p->port_id, 0, NB_RXD, socket, NULL, n->pool);
	if (!rc)
		rc = rte_eth_tx_queue_setup(p->port_id, 0, NB_TXD, socket, NULL);
	if (rc) {
		RTE_LOG(ERR, USER1, "port %s: setup failed: %s\n", cp->name, strerror(-rc));
		return rc;
	}
	/* Not every vdev implements MTU setting (memif does not). */
	rc = rte_eth_dev_set_mtu(p->port_id, p->mtu);
	if (rc && rc != -ENOTSUP)
		RTE_LOG(WARNING, USER1, "port %s: set_mtu(%u): %s\n", cp->name, p->mtu,
			strerror(-rc));
	port_set_mac(n, cp, p);
	return 0;
}

/* Start the port, or for a memif client whose server is not there yet,
 * leave it to dsm_ports_maintain() (the link comes up when the peer does). */
static int port_start(const struct dsm_cfg_port *cp, struct dsm_port_rt *p)
{
	int rc;

	if (port_retries_connect(cp) && !memif_server_present(cp)) {
		RTE_LOG(INFO, USER1, "port %s: peer not there yet, will start later\n", cp->name);
		p->start_failed = true;
		return 0;
	}
	rc = rte_eth_dev_start(p->port_id);
	if (rc && port_retries_connect(cp)) {
		RTE_LOG(INFO, USER1, "port %s: peer not listening yet, will retry\n", cp->name);
		p->start_failed = true;
		return 0;
	}
	if (rc)
		RTE_LOG(ERR, USER1, "port %s: start failed: %s\n", cp->name, strerror(-rc));
	return rc;
}

static int port_setup(struct dsm_node *n, const struct dsm_cfg_port *cp,
		      struct dsm_port_rt *p)
{
	int rc = port_lookup(cp, &p->port_id);

	if (!rc)
		rc = port_configure(n, cp, p);
	if (!rc)
		rc = port_start(cp, p);
	return rc;
}

int dsm_ports_init(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->cfg.nports; i++) {
		int rc = port_setup(n, &n->cfg.ports[i], &n->ports[i]);

		if (rc)
			return rc;
		n->nports = i + 1;
	}
	return 0;
}

void dsm_ports_fini(struct dsm_node *n)
{
	for (uint32_t i = 0; i < n->nports; i++) {
		dsm_port_flush(&n->ports[i]);
		rte_eth_dev_stop(n->ports[i].port_id);
		rte_eth_dev_close(n->ports[i].port_id);
	}
	n->nports = 0;
}

#define LINK_RETRY_NS (300ull * 1000000)

#define LINK_DOWN_RESTART_NS (2000ull * 1000000)

/* Reconnect one client-side port.  Never while a connection attempt may be
 * in progress: restarting a memif port mid-handshake races with memif's
 * control thread.  So only a port whose start failed (nobody listening) is
 * retried at once, and a connected port only after its link stayed down for
 * LINK_DOWN_RESTART_NS (the peer went away). */
static bool port_maintain(struct dsm_port_rt *p, const struct dsm_cfg_port *cp,
			  uint64_t now)
{
	if (p->start_failed) {
		if (!memif_server_present(cp))
			return false;
		p->start_failed = rte_eth_dev_start(p->port_id) != 0;
		p->down_since = now;
		return true;
	}
	if (link_up(p->port_id)) {
		p->down_since = 0;
		return false;
	}
	if (!p->down_since) {
		p->down_since = now;
		return false;
	}
	if (now - p->down_since < LINK_DOWN_RESTART_NS)
		return false;
	rte_eth_dev_stop(p->port_id);
	p->start_failed = rte_eth_dev_start(p->port_id) != 0;
	p->down_since = now;
	return true;
}

/* Called from the I/O loop (and while waiting for links), at most every
 * LINK_RETRY_NS: a peer that starts or restarts later gets connected. */
int dsm_ports_maintain(struct dsm_node *n, uint64_t now)
{
	int restarted = 0;

	if (now < n->next_link_check)
		return 0;
	n->next_link_check = now + LINK_RETRY_NS;
	for (uint32_t i = 0; i < n->nports; i++)
		if (port_retries_connect(&n->cfg.ports[i]))
			restarted += port_maintain(&n->ports[i], &n->cfg.ports[i], now);
	return restarted;
}

int dsm_node_wait_links(struct dsm_node *n, uint32_t timeout_ms)
{
	uint64_t deadline = dsm_now_ns() + (uint64_t)timeout_ms * 1000000;

	for (uint32_t i = 0; i < n->nports; i++) {
		while (!link_up(n->ports[i].port_id)) {
			uint64_t now = dsm_now_ns();

			if (now > deadline || n->stop) {
				RTE_LOG(ERR, USER1, "port %s: link still down after %u ms\n",
					n->cfg.ports[i].name, timeout_ms);
				return -ETIMEDOUT;
			}
			dsm_ports_maintain(n, now);
			rte_delay_us_sleep(1000);
		}
	}
	return 0;
}

void dsm_port_flush(struct dsm_port_rt *p)
{
	uint16_t sent;

	if (!p->ntx)
		return;
	/* Not started (no peer yet): the frames are lost like on a down
	 * link; the channel retransmits them once the link is up. */
	sent = p->start_failed ? 0 : rte_eth_tx_burst(p->port_id, 0, p->txq, p->ntx);
	p->tx_frames += sent;
	/* A full tx ring is loss like any other: the channel retransmits. */
	for (uint16_t i = sent; i < p->ntx; i++) {
		rte_pktmbuf_free(p->txq[i]);
		p->tx_dropped++;
	}
	p->ntx = 0;
}

void dsm_port_xmit(struct dsm_port_rt *p, struct rte_mbuf *m)
{
	p->txq[p->ntx++] = m;
	if (p->ntx == DSM_BURST)
		dsm_port_flush(p);
}
