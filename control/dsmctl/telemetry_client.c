/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "dsmctl/telemetry_client.h"

static int tel_connect(const char *path, unsigned timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* One message, parsed; a receive timeout shows as EAGAIN: say -ETIMEDOUT. */
static int recv_json(int fd, json_t **out)
{
	char *buf = malloc(DSMCTL_TEL_MAX_REPLY + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = recv(fd, buf, DSMCTL_TEL_MAX_REPLY, 0);
	if (n <= 0) {
		int ret = n == 0 ? -EPROTO : (errno == EAGAIN ? -ETIMEDOUT : -errno);

		free(buf);
		return ret;
	}
	*out = json_loadb(buf, (size_t)n, 0, NULL);
	free(buf);
	return *out ? 0 : -EPROTO;
}

/* The reply is keyed by the command without its parameters. */
static int pick(json_t *reply, const char *cmd, json_t **out)
{
	size_t len = strcspn(cmd, ",");
	char key[128];
	json_t *v;

	if (len >= sizeof(key) || !json_is_object(reply))
		return -EPROTO;
	memcpy(key, cmd, len);
	key[len] = '\0';
	v = json_object_get(reply, key);
	if (!v)
		return -EPROTO;
	if (json_is_null(v))
		return -ENOTSUP;
	*out = json_incref(v);
	return 0;
}

int dsmctl_tel_query(const char *path, const char *cmd, unsigned timeout_ms, json_t **out)
{
	json_t *hello = NULL, *reply = NULL;
	int fd = tel_connect(path, timeout_ms), ret;

	*out = NULL;
	if (fd < 0)
		return fd;
	ret = recv_json(fd, &hello);
	if (ret == 0 && !json_is_object(hello))
		ret = -EPROTO;   /* something else listens there */
	if (ret == 0 && send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0)
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (ret == 0)
		ret = recv_json(fd, &reply);
	if (ret == 0)
		ret = pick(reply, cmd, out);
	json_decref(hello);
	json_decref(reply);
	close(fd);
	return ret;
}
