/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kfront/kdev.h"

static int setup_eventfd(struct dsm_kdev *kd)
{
	int32_t fd;

	kd->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kd->efd < 0)
		return -errno;
	fd = kd->efd;
	return ioctl(kd->fd, DSM_IOC_EVENTFD, &fd) < 0 ? -errno : 0;
}

static int map_region(struct dsm_kdev *kd, enum dsm_ring_err *why)
{
	kd->region_len = kd->params.region_size;
	kd->region = mmap(NULL, kd->region_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED, kd->fd, 0);
	if (kd->region == MAP_FAILED) {
		kd->region = NULL;
		return -errno;
	}
	return dsm_ring_attach(&kd->rings, kd->region, kd->region_len,
			       &kd->params, why);
}

int dsm_kdev_open(struct dsm_kdev *kd, const char *path, uint32_t features,
		  uint32_t entries, enum dsm_ring_err *why)
{
	int ret;

	memset(kd, 0, sizeof(*kd));
	kd->efd = -1;
	kd->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kd->fd < 0)
		return -errno;
	dsm_ring_params_init(&kd->params, features);
	for (unsigned i = 0; i < DSM_RING_NR; i++)
		kd->params.entries[i] = entries;
	if (ioctl(kd->fd, DSM_IOC_SETUP, &kd->params) < 0)
		ret = -errno;
	else
		ret = map_region(kd, why);
	if (ret == 0 && (kd->params.features & DSM_RING_F_EVENTFD))
		ret = setup_eventfd(kd);
	if (ret)
		dsm_kdev_close(kd);
	return ret;
}

void dsm_kdev_close(struct dsm_kdev *kd)
{
	if (kd->region)
		munmap(kd->region, kd->region_len);
	if (kd->efd >= 0)
		close(kd->efd);
	if (kd->fd >= 0)
		close(kd->fd);
	kd->region = NULL;
	kd->efd = -1;
	kd->fd = -1;
}

int dsm_kdev_seg_add(struct dsm_kdev *kd, uint32_t seg_id, uint64_t npages,
		     void **mem)
{
	struct dsm_kseg ks = { .seg_id = seg_id, .npages = npages };
	void *m;

	if (ioctl(kd->fd, DSM_IOC_SEG_ADD, &ks) < 0)
		return -errno;
	m = mmap(NULL, npages * DSM_KMOD_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, kd->fd, (off_t)ks.mmap_offset);
	if (m == MAP_FAILED) {
		int ret = -errno;

		ioctl(kd->fd, DSM_IOC_SEG_DEL, &seg_id);
		return ret;
	}
	*mem = m;
	return 0;
}

int dsm_kdev_seg_del(struct dsm_kdev *kd, uint32_t seg_id, void *mem,
		     uint64_t npages)
{
	if (mem)
		munmap(mem, npages * DSM_KMOD_PAGE_SIZE);
	return ioctl(kd->fd, DSM_IOC_SEG_DEL, &seg_id) < 0 ? -errno : 0;
}

int dsm_kdev_enter(struct dsm_kdev *kd, uint32_t flags, uint32_t timeout_ms,
		   struct dsm_kenter *out)
{
	struct dsm_kenter ke = { .flags = flags, .timeout_ms = timeout_ms };
	int ret = ioctl(kd->fd, DSM_IOC_ENTER, &ke) < 0 ? -errno : 0;

	if (out)
		*out = ke;
	return ret;
}

int dsm_kdev_stats(int fd, struct dsm_kstats *st)
{
	return ioctl(fd, DSM_IOC_STATS, st) < 0 ? -errno : 0;
}

int dsm_kdev_attach(const char *path, uint32_t seg_id, uint64_t *npages)
{
	struct dsm_kattach ka = { .seg_id = seg_id };
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, DSM_IOC_ATTACH, &ka) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (npages)
		*npages = ka.npages;
	return fd;
}
