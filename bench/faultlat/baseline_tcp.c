/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * baseline_tcp.c - the naive remote-memory design: userfaultfd plus a page
 * server process over TCP loopback.  The forked server holds every page;
 * on each fault the handler thread sends the page number (8 bytes, host
 * order), reads the 4 KiB reply and resolves the fault with UFFDIO_COPY.
 * TCP_NODELAY on both ends; everything blocks (poll() on the uffd,
 * blocking send/recv on the socket).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faultlat.h"

#define READY_BYTE 0x5a

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		fl_fatal_errno(errno, "setsockopt(TCP_NODELAY)");
}

/* 0 on success, 1 on orderly EOF before any byte, -1 on error/short. */
static int recv_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = recv(fd, (char *)buf + got, len - got,
				 MSG_WAITALL);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return got == 0 ? 1 : -1;
		if (errno == EINTR)
			continue;
		return -1;
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	size_t sent = 0;

	while (sent < len) {
		ssize_t r = send(fd, (const char *)buf + sent, len - sent,
				 MSG_NOSIGNAL);
		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
	return 0;
}

/* The server process: never returns.  Exit 0 on EOF from the client. */
static void __attribute__((noreturn))
server_main(int lfd, const struct fl_opts *o, const struct fl_trace *tr)
{
	size_t len = tr->npages * FL_PAGE;

	fl_pin_self(o->pin_server, "page server");
	char *store = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (store == MAP_FAILED) {
		fprintf(stderr, "dsm-faultlat: page server: mmap %zu bytes: "
			"%s\n", len, strerror(errno));
		_exit(FL_EXIT_ERROR);
	}
	for (size_t n = 0; n < tr->npages; n++)
		fl_fill_page(store + n * FL_PAGE, tr->seed, n);

	int fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		fprintf(stderr, "dsm-faultlat: page server: accept: %s\n",
			strerror(errno));
		_exit(FL_EXIT_ERROR);
	}
	close(lfd);
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		fprintf(stderr, "dsm-faultlat: page server: TCP_NODELAY: %s\n",
			strerror(errno));
		_exit(FL_EXIT_ERROR);
	}
	unsigned char ready = READY_BYTE;
	if (send_all(fd, &ready, 1) != 0) {
		fprintf(stderr, "dsm-faultlat: page server: send: %s\n",
			strerror(errno));
		_exit(FL_EXIT_ERROR);
	}
	for (;;) {
		uint64_t req;
		int r = recv_all(fd, &req, sizeof(req));

		if (r == 1)
			_exit(0);
		if (r != 0) {
			fprintf(stderr, "dsm-faultlat: page server: bad or "
				"short request: %s\n",
				errno ? strerror(errno) : "EOF");
			_exit(FL_EXIT_ERROR);
		}
		if (req >= tr->npages) {
			fprintf(stderr, "dsm-faultlat: page server: request "
				"for page %llu of %zu\n",
				(unsigned long long)req, tr->npages);
			_exit(FL_EXIT_ERROR);
		}
		if (send_all(fd, store + req * FL_PAGE, FL_PAGE) != 0) {
			fprintf(stderr, "dsm-faultlat: page server: send: %s\n",
				strerror(errno));
			_exit(FL_EXIT_ERROR);
		}
	}
}

struct tcp_client {
	int fd;
};

static int tcp_fetch(void *ctx, uint64_t page, void *buf, char *err,
		     size_t errlen)
{
	struct tcp_client *c = ctx;

	if (send_all(c->fd, &page, sizeof(page)) != 0) {
		snprintf(err, errlen, "send to page server: %s",
			 strerror(errno));
		return -1;
	}
	errno = 0;
	int r = recv_all(c->fd, buf, FL_PAGE);
	if (r != 0) {
		snprintf(err, errlen, "page server reply: %s",
			 r == 1 || errno == 0 ? "connection closed"
					      : strerror(errno));
		return -1;
	}
	return 0;
}

void fl_run_tcp(const char *row, const struct fl_opts *o, struct fl_trace *tr)
{
	/* Listen before forking, so the client can connect straight away. */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		fl_fatal_errno(errno, "socket");
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = 0,
	};
	socklen_t salen = sizeof(sa);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fl_fatal_errno(errno, "bind 127.0.0.1:0");
	if (listen(lfd, 1) != 0)
		fl_fatal_errno(errno, "listen");
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0)
		fl_fatal_errno(errno, "getsockname");

	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		fl_fatal_errno(errno, "fork (page server)");
	if (pid == 0) {
		fl_child_init(parent);
		server_main(lfd, o, tr);
	}
	fl_child_add(pid);
	close(lfd);

	struct tcp_client c;
	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0)
		fl_fatal_errno(errno, "socket");
	set_nodelay(c.fd);
	if (connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fl_fatal_errno(errno, "connect to page server on 127.0.0.1:%u",
			       ntohs(sa.sin_port));
	/* The server has filled its pages once it says so. */
	unsigned char ready = 0;
	errno = 0;
	if (recv_all(c.fd, &ready, 1) != 0 || ready != READY_BYTE)
		fl_fatal("%s: page server did not come up (%s)", row,
			 errno ? strerror(errno) : "connection closed");

	int uffd;
	char *base = fl_uffd_region(tr->npages, &uffd);
	struct fl_handler *h = fl_handler_start(row, uffd, base, tr, false,
						o->pin_handler, tcp_fetch, &c);

	fl_fault_loop(row, base, tr, false);
	fl_handler_stop(h);
	fl_check_served(row, tr);

	/* EOF tells the server to exit 0. */
	close(c.fd);
	fl_child_wait(pid, "page server");
	close(uffd);
	if (munmap(base, tr->npages * FL_PAGE) != 0)
		fl_fatal_errno(errno, "munmap");
}
