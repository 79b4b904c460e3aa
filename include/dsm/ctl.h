/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dsm/ctl.h - the control protocol between libdsm and the local
 * dsm-dataplane, over a unix stream socket (SOCK_SEQPACKET: one message per
 * packet, so a message is never split or merged).
 *
 * Every request is one struct dsm_ctl_msg; every reply is one too, with the
 * request's op and seq echoed and status 0 or -errno.  File descriptors
 * travel with SCM_RIGHTS: the reply to ATTACH carries the segment's shared
 * file (memfd or hugetlbfs) that the application maps, and REGISTER carries
 * the userfaultfd the application registered on that mapping.  The
 * dataplane checks the peer's credentials (SO_PEERCRED) on every request.
 *
 * Fixed-width fields, explicit padding, reserved fields that must be zero,
 * every offset pinned below; a message of the wrong size, magic or version,
 * an unknown op, non-zero reserved fields or an unterminated name gets an
 * error reply (-EPROTO / -EINVAL) and is counted; the connection stays up.
 */
#ifndef DSM_CTL_H
#define DSM_CTL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define DSM_CTL_MAGIC   0x434d5344u /* "DSMC" little-endian */
#define DSM_CTL_VERSION 1u
#define DSM_CTL_NAME    32          /* bytes, NUL-terminated */

enum dsm_ctl_op {
	DSM_CTL_HELLO = 1,    /* -> node id, protocol version */
	DSM_CTL_CREATE,       /* seg.name, size, prot, flags -> seg */
	DSM_CTL_DESTROY,      /* seg.name */
	DSM_CTL_INFO,         /* seg.name -> seg */
	DSM_CTL_ATTACH,       /* seg.name, prot -> seg + the shared file */
	DSM_CTL_REGISTER,     /* seg_id, addr, len, prot + the userfaultfd */
	DSM_CTL_DETACH,       /* seg_id, addr */
	DSM_CTL_OP_MAX
};

/* A segment as the protocol describes it. */
struct dsm_ctl_seg {
	char     name[DSM_CTL_NAME]; /*  0 */
	uint32_t seg_id;             /* 32 */
	uint16_t home;               /* 36 */
	uint16_t prot;               /* 38 DSM_SEG_READ | DSM_SEG_WRITE */
	uint32_t page_size;          /* 40 */
	uint32_t flags;              /* 44 DSM_SEG_HUGE */
	uint64_t size;               /* 48 bytes */
};                                   /* 56 */

struct dsm_ctl_msg {
	uint32_t magic;              /*  0 DSM_CTL_MAGIC */
	uint16_t version;            /*  4 DSM_CTL_VERSION */
	uint16_t op;                 /*  6 enum dsm_ctl_op */
	uint64_t seq;                /*  8 chosen by the client, echoed */
	int32_t  status;             /* 16 reply: 0 or -errno; request: 0 */
	uint16_t node;               /* 20 reply to HELLO: this node's id */
	uint16_t resv0;              /* 22 must be zero */
	struct dsm_ctl_seg seg;      /* 24 */
	uint64_t addr;               /* 80 REGISTER/DETACH: the mapping */
	uint64_t len;                /* 88 REGISTER: its length */
	uint32_t prot;               /* 96 ATTACH/REGISTER: access wanted */
	uint32_t resv1;              /* 100 must be zero */
	uint64_t resv2[3];           /* 104 must be zero */
};                                   /* 128 */

#define DSM_CTL_ASSERT_OFF(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field " offset")

_Static_assert(sizeof(struct dsm_ctl_seg) == 56, "ctl seg size");
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, seg_id, 32);
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, home, 36);
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, prot, 38);
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, page_size, 40);
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, flags, 44);
DSM_CTL_ASSERT_OFF(dsm_ctl_seg, size, 48);

_Static_assert(sizeof(struct dsm_ctl_msg) == 128, "ctl msg size");
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, version, 4);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, op, 6);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, seq, 8);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, status, 16);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, node, 20);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, resv0, 22);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, seg, 24);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, addr, 80);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, len, 88);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, prot, 96);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, resv1, 100);
DSM_CTL_ASSERT_OFF(dsm_ctl_msg, resv2, 104);

/* Send one message, with a descriptor (SCM_RIGHTS) when pass_fd >= 0: the
 * same on both sides of the socket.  0 or -errno. */
static inline int dsm_ctl_send(int sock, const struct dsm_ctl_msg *m, int pass_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(cbuf, 0, sizeof(cbuf));
	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -errno;
}

#endif /* DSM_CTL_H */
