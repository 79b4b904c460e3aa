// SPDX-License-Identifier: GPL-2.0
/*
 * dsm.ko: the misc device /dev/dsm, its ioctls and the module's counters.
 * Roles (server, client) and the ioctl ABI are described in
 * include/dsm/kmod.h; the shared rings in include/dsm/ring.h.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "dsm_internal.h"

struct dsm_module dsm;

unsigned int dsm_fault_timeout_ms = 2000;
module_param_named(fault_timeout_ms, dsm_fault_timeout_ms, uint, 0644);
MODULE_PARM_DESC(fault_timeout_ms,
		 "deadline of a fault waiting for the server; then SIGBUS");

enum dsm_role { DSM_ROLE_NONE, DSM_ROLE_SERVER, DSM_ROLE_CLIENT };

/* An open file of /dev/dsm: its role is set once, by the first SETUP or
 * ATTACH, under lock. */
struct dsm_file {
	struct mutex lock;
	enum dsm_role role;
	struct dsm_server *srv;   /* SERVER */
	struct dsm_seg *seg;      /* CLIENT */
	struct file *file;
};

static int dsm_open(struct inode *inode, struct file *file)
{
	struct dsm_file *df = kzalloc(sizeof(*df), GFP_KERNEL);

	if (!df)
		return -ENOMEM;
	mutex_init(&df->lock);
	df->file = file;
	file->private_data = df;
	return 0;
}

static int dsm_release(struct inode *inode, struct file *file)
{
	struct dsm_file *df = file->private_data;

	if (df->role == DSM_ROLE_SERVER)
		dsm_server_release(df->srv);
	else if (df->role == DSM_ROLE_CLIENT)
		dsm_client_release(df->seg);
	kfree(df);
	return 0;
}

static long ioc_setup(struct dsm_file *df, void __user *arg)
{
	struct dsm_ring_params p;
	long ret;

	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	if (df->role != DSM_ROLE_NONE)
		return -EBUSY;
	ret = dsm_server_setup(&p, &df->srv);
	if (ret)
		return ret;
	/* Release: pairs with the acquire in dsm_mmap/dsm_poll, which read
	 * df->srv without df->lock once they see the role. */
	smp_store_release(&df->role, DSM_ROLE_SERVER);
	return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
}

static long ioc_attach(struct dsm_file *df, void __user *arg)
{
	struct dsm_kattach ka;
	long ret;

	if (copy_from_user(&ka, arg, sizeof(ka)))
		return -EFAULT;
	if (df->role != DSM_ROLE_NONE)
		return -EBUSY;
	ret = dsm_client_attach(df->file, &ka, &df->seg);
	if (ret)
		return ret;
	/* Release: pairs with the acquire in dsm_mmap (df->seg, f_mapping). */
	smp_store_release(&df->role, DSM_ROLE_CLIENT);
	return copy_to_user(arg, &ka, sizeof(ka)) ? -EFAULT : 0;
}

static long ioc_stats(void __user *arg)
{
	struct dsm_kstats st;
	__u64 *v = (__u64 *)&st;
	unsigned i;

	for (i = 0; i < DSM_NSTATS; i++)
		v[i] = atomic64_read(&dsm.stats[i]);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long ioc_server(struct dsm_server *srv, unsigned int cmd, void __user *arg)
{
	struct dsm_kseg ks;
	struct dsm_kenter ke;
	dsm_u32 id;
	dsm_s32 fd;
	long ret;

	switch (cmd) {
	case DSM_IOC_SEG_ADD:
		if (copy_from_user(&ks, arg, sizeof(ks)))
			return -EFAULT;
		ret = dsm_seg_add(&ks);
		return ret ? ret : copy_to_user(arg, &ks, sizeof(ks)) ? -EFAULT : 0;
	case DSM_IOC_SEG_DEL:
		return get_user(id, (dsm_u32 __user *)arg) ? -EFAULT : dsm_seg_del(id);
	case DSM_IOC_EVENTFD:
		return get_user(fd, (dsm_s32 __user *)arg) ? -EFAULT
							   : dsm_server_eventfd(srv, fd);
	case DSM_IOC_ENTER:
		if (copy_from_user(&ke, arg, sizeof(ke)))
			return -EFAULT;
		ret = dsm_server_enter(srv, &ke);
		if (copy_to_user(arg, &ke, sizeof(ke)))
			return -EFAULT;
		return ret;
	default:
		return -ENOTTY;
	}
}

static long dsm_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct dsm_file *df = file->private_data;
	void __user *arg = (void __user *)uarg;
	long ret;

	if (cmd == DSM_IOC_STATS)
		return ioc_stats(arg);
	mutex_lock(&df->lock);
	if (cmd == DSM_IOC_SETUP)
		ret = ioc_setup(df, arg);
	else if (cmd == DSM_IOC_ATTACH)
		ret = ioc_attach(df, arg);
	else if (df->role == DSM_ROLE_SERVER)
		ret = -ENOTTY;
	else
		ret = df->role == DSM_ROLE_NONE ? -ENOTCONN : -ENOTTY;
	mutex_unlock(&df->lock);
	if (ret != -ENOTTY || df->role != DSM_ROLE_SERVER)
		return ret;
	/* Server ioctls run without df->lock: ENTER may sleep for long. */
	return ioc_server(df->srv, cmd, arg);
}

static int dsm_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct dsm_file *df = file->private_data;
	enum dsm_role role = smp_load_acquire(&df->role);
	struct dsm_seg *seg;
	u64 off = vma->vm_pgoff;
	int ret;

	if (role == DSM_ROLE_CLIENT)
		return dsm_client_mmap(df->seg, vma);
	if (role != DSM_ROLE_SERVER)
		return -ENOTCONN;
	if (off == 0)
		return dsm_server_mmap(df->srv, vma);
	/* Segment backing: offset idx << 32 bytes, plus pages within it. */
	seg = dsm_seg_get_idx(off >> (32 - PAGE_SHIFT));
	if (!seg)
		return -EINVAL;
	ret = dsm_seg_mmap_server(seg, vma, off & ((1ull << (32 - PAGE_SHIFT)) - 1));
	dsm_seg_put(seg);
	return ret;
}

static __poll_t dsm_poll(struct file *file, struct poll_table_struct *pt)
{
	struct dsm_file *df = file->private_data;

	if (smp_load_acquire(&df->role) != DSM_ROLE_SERVER)
		return EPOLLERR;
	return dsm_server_poll(df->srv, file, pt);
}

static const struct file_operations dsm_fops = {
	.owner = THIS_MODULE,
	.open = dsm_open,
	.release = dsm_release,
	.unlocked_ioctl = dsm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = dsm_mmap,
	.poll = dsm_poll,
	.llseek = noop_llseek,
};

static struct miscdevice dsm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "dsm",
	.fops = &dsm_fops,
	.mode = 0600,
};

static int __init dsm_init(void)
{
	int ret;

	mutex_init(&dsm.lock);
	spin_lock_init(&dsm.srv_lock);
	ret = dsm_seg_init();
	if (ret)
		return ret;
	ret = misc_register(&dsm_misc);
	if (ret) {
		dsm_seg_exit();
		return ret;
	}
	pr_info("dsm: loaded, ring API %u, fault timeout %u ms\n",
		DSM_RING_API_VERSION, dsm_fault_timeout_ms);
	return 0;
}

static void __exit dsm_exit(void)
{
	misc_deregister(&dsm_misc);
	dsm_seg_exit();
	pr_info("dsm: unloaded: %lld faults, %lld minor, %lld sigbus, %lld bad entries\n",
		(long long)atomic64_read(&dsm.stats[DSM_ST_FAULTS]),
		(long long)atomic64_read(&dsm.stats[DSM_ST_MINOR]),
		(long long)atomic64_read(&dsm.stats[DSM_ST_SIGBUS]),
		(long long)(atomic64_read(&dsm.stats[DSM_ST_BAD0 + 1]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 2]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 3]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 4]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 5]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 6]) +
			    atomic64_read(&dsm.stats[DSM_ST_BAD0 + 7])));
}

module_init(dsm_init);
module_exit(dsm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("DSM page-fault front end: faults and invalidations through a shared ring");
MODULE_AUTHOR("dsm project");
