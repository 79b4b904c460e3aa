// SPDX-License-Identifier: GPL-2.0
/*
 * Segments and the client fault path.
 *
 * A segment's backing is vmalloc_user memory: the server maps it (and
 * writes page contents into it), clients map its pages with
 * vmf_insert_pfn_prot (VM_PFNMAP: no struct-page refcounting, no GUP).  Each
 * segment has its own inode, whose address_space every client file of the
 * segment uses, so unmap_mapping_range() drops a page from every process's
 * mapping at once - invalidation and downgrade need nothing else.
 *
 * pstate[] is what the server has granted this node: NONE (ask), RO (map
 * read-only) or RW.  A fault that finds a grant maps the page at once (a
 * minor fault: no ring); otherwise it posts a request, drops the mmap lock,
 * waits, and returns VM_FAULT_RETRY, so the retried fault maps whatever the
 * grant is by then.  map_lock orders "read pstate + insert pte" against
 * "clear pstate + zap", so no pte outlives the grant it was made from.
 */
#include <linux/fs_context.h>
#include <linux/moduleparam.h>
#include <linux/module.h>
#include <linux/jiffies.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dsm_internal.h"

unsigned int dsm_max_seg_pages = 262144; /* 1 GiB */
module_param_named(max_seg_pages, dsm_max_seg_pages, uint, 0444);
MODULE_PARM_DESC(max_seg_pages, "largest segment, in 4 KiB pages (<= 2^20)");

#define DSM_MAX_SEG_IDX 0xffffu /* server mmap offsets idx << 32 */

/* ------------------------------------------------------------- lifetime */

static void seg_free(struct kref *ref)
{
	struct dsm_seg *seg = container_of(ref, struct dsm_seg, ref);

	if (seg->inode)
		iput(seg->inode);
	kvfree(seg->pstate);
	vfree(seg->mem);
	kfree(seg);
	dsm_count_sub(DSM_ST_SEGMENTS);
}

void dsm_seg_put(struct dsm_seg *seg)
{
	kref_put(&seg->ref, seg_free);
}

static struct dsm_seg *seg_lookup(struct xarray *xa, unsigned long key)
{
	struct dsm_seg *seg;

	xa_lock(xa);
	seg = xa_load(xa, key);
	if (seg && !kref_get_unless_zero(&seg->ref))
		seg = NULL;
	xa_unlock(xa);
	return seg;
}

struct dsm_seg *dsm_seg_get(u32 seg_id)
{
	return seg_lookup(&dsm.segs, seg_id);
}

struct dsm_seg *dsm_seg_get_idx(u32 idx)
{
	return seg_lookup(&dsm.by_idx, idx);
}

static struct dsm_seg *seg_alloc(const struct dsm_kseg *ks)
{
	struct dsm_seg *seg = kzalloc(sizeof(*seg), GFP_KERNEL);

	if (!seg)
		return NULL;
	kref_init(&seg->ref);
	dsm_count(DSM_ST_SEGMENTS);
	seg->seg_id = ks->seg_id;
	seg->npages = ks->npages;
	mutex_init(&seg->map_lock);
	spin_lock_init(&seg->fail_lock);
	seg->mem = vmalloc_user(ks->npages * PAGE_SIZE);
	seg->pstate = kvzalloc(ks->npages, GFP_KERNEL);
	seg->inode = alloc_anon_inode(dsm.mnt->mnt_sb);
	if (IS_ERR(seg->inode))
		seg->inode = NULL;
	if (!seg->mem || !seg->pstate || !seg->inode) {
		dsm_seg_put(seg);
		return NULL;
	}
	return seg;
}

static int kseg_check(const struct dsm_kseg *ks)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(ks->resv); i++)
		if (ks->resv[i])
			return -EINVAL;
	if (ks->flags & ~DSM_KSEG_F_ALL || ks->seg_id == DSM_RING_SEG_ALL)
		return -EINVAL;
	if (ks->npages == 0 || ks->npages > dsm_max_seg_pages ||
	    ks->npages > (1ull << 20))
		return -EINVAL;
	return 0;
}

/* Server only (dsm_main.c checks the role). */
int dsm_seg_add(struct dsm_kseg *ks)
{
	struct dsm_seg *seg;
	int ret = kseg_check(ks);

	if (ret)
		return ret;
	seg = seg_alloc(ks);
	if (!seg)
		return -ENOMEM;
	/* The index first, the id last: the segment becomes findable (by
	 * ATTACH, completions, SEG_DEL) only once it is complete. */
	mutex_lock(&dsm.lock);
	ret = xa_alloc(&dsm.by_idx, &seg->idx, seg, XA_LIMIT(1, DSM_MAX_SEG_IDX),
		       GFP_KERNEL);
	if (ret == 0) {
		ret = xa_insert(&dsm.segs, ks->seg_id, seg, GFP_KERNEL);
		if (ret)
			xa_erase(&dsm.by_idx, seg->idx);
		if (ret == -EBUSY)
			ret = -EEXIST;
	}
	if (ret == 0)
		ks->mmap_offset = (u64)seg->idx << 32;
	mutex_unlock(&dsm.lock);
	if (ret) {
		dsm_seg_put(seg);
		return ret;
	}
	return 0;
}

/* Unregister (dsm.lock held): later faults fail, every client mapping is
 * dropped, the memory goes when the last mapping or file does. */
static void seg_kill(struct dsm_seg *seg)
{
	xa_erase(&dsm.segs, seg->seg_id);
	xa_erase(&dsm.by_idx, seg->idx);
	mutex_lock(&seg->map_lock);
	seg->dead = true;
	memset(seg->pstate, DSM_PS_NONE, seg->npages);
	unmap_mapping_range(seg->inode->i_mapping, 0, 0, 1);
	mutex_unlock(&seg->map_lock);
	dsm_seg_put(seg);
}

int dsm_seg_del(u32 seg_id)
{
	struct dsm_seg *seg;

	mutex_lock(&dsm.lock);
	seg = xa_load(&dsm.segs, seg_id);
	if (seg)
		seg_kill(seg);
	mutex_unlock(&dsm.lock);
	return seg ? 0 : -ENOENT;
}

/* dsm.lock held. */
void dsm_seg_del_all(void)
{
	struct dsm_seg *seg;
	unsigned long id;

	xa_for_each(&dsm.segs, id, seg)
		seg_kill(seg);
}

/* ------------------------------------------------------ server commands */

int dsm_seg_invalidate(struct dsm_seg *seg, u64 pgno, u64 npages, bool downgrade)
{
	u64 i;

	if (pgno >= seg->npages || npages > seg->npages - pgno)
		return -ERANGE;
	mutex_lock(&seg->map_lock);
	for (i = pgno; i < pgno + npages; i++)
		if (!downgrade || seg->pstate[i] == DSM_PS_RW)
			seg->pstate[i] = downgrade ? DSM_PS_RO : DSM_PS_NONE;
	/* Downgrade write-protects by unmapping: the next read maps the page
	 * read-only again as a minor fault, with no ring round trip.  When
	 * this returns no CPU can write through an old pte (the TLBs are
	 * flushed), so the server may read the backing once it sees the ack. */
	unmap_mapping_range(seg->inode->i_mapping, pgno << PAGE_SHIFT,
			    npages << PAGE_SHIFT, 1);
	mutex_unlock(&seg->map_lock);
	return 0;
}

/* Grants only ever raise what the kernel may map: a late or reordered
 * read grant must not turn a writable page read-only without a zap (only
 * commands lower a page's state, and they unmap it). */
void dsm_seg_grant(struct dsm_seg *seg, u64 pgno, u8 result)
{
	u8 want = result == DSM_RES_MAP_RW ? DSM_PS_RW : DSM_PS_RO;

	if (pgno >= seg->npages)
		return;
	mutex_lock(&seg->map_lock);
	if (!seg->dead && seg->pstate[pgno] < want) {
		/* Never written anywhere: zero-fill here, no data crossed the
		 * ring or the network.  Only when nothing maps the page (state
		 * NONE): a page already granted keeps its contents. */
		if (result == DSM_RES_ZERO)
			memset((u8 *)seg->mem + pgno * PAGE_SIZE, 0, PAGE_SIZE);
		seg->pstate[pgno] = want;
	}
	mutex_unlock(&seg->map_lock);
}

/* ---------------------------------------------------- failure records */

static void fail_record(struct dsm_seg *seg, u64 pgno)
{
	unsigned i, oldest = 0;

	spin_lock(&seg->fail_lock);
	for (i = 0; i < DSM_FAIL_SLOTS; i++) {
		if (seg->fails[i].tid == 0) {
			oldest = i;
			break;
		}
		if (time_before(seg->fails[i].when, seg->fails[oldest].when))
			oldest = i;
	}
	seg->fails[oldest] = (struct dsm_fail){
		.tid = current->pid, .pgno = pgno, .when = jiffies,
	};
	spin_unlock(&seg->fail_lock);
}

/* The record of this thread and page, if any, is used up either way; it
 * fails the fault only on a retry (see struct dsm_fail). */
static bool fail_take(struct dsm_seg *seg, u64 pgno, bool retry)
{
	bool hit = false;
	unsigned i;

	spin_lock(&seg->fail_lock);
	for (i = 0; i < DSM_FAIL_SLOTS; i++) {
		struct dsm_fail *f = &seg->fails[i];

		if (f->tid != current->pid || f->pgno != pgno)
			continue;
		f->tid = 0;
		hit = retry &&
		      time_before(jiffies, f->when + msecs_to_jiffies(dsm_fault_timeout_ms));
		break;
	}
	spin_unlock(&seg->fail_lock);
	return hit;
}

/* ------------------------------------------------------- client faults */

static vm_fault_t fault_sigbus(void)
{
	dsm_count(DSM_ST_SIGBUS);
	return VM_FAULT_SIGBUS;
}

static void release_fault_lock_compat(struct vm_fault *vmf)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	release_fault_lock(vmf);
#else
	mmap_read_unlock(vmf->vma->vm_mm);
#endif
}

/* Ask the server, with the mmap lock dropped while we wait.  Returns
 * VM_FAULT_RETRY once the lock is dropped; the retry maps the grant or, if
 * the wait failed, finds the failure record and raises SIGBUS. */
/* No request slot or ring space: wait for some, then the fault retries. */
static enum dsm_wait_outcome wait_for_room(struct dsm_server *srv, int *err)
{
	long left;

	dsm_count(DSM_ST_RING_WAITS);
	left = wait_event_killable_timeout(srv->space_wq,
			(READ_ONCE(srv->nfree) &&
			 dsm_kring_room(&srv->ring[DSM_RING_FAULT]) != 0) ||
			READ_ONCE(srv->dead),
			msecs_to_jiffies(dsm_fault_timeout_ms));
	if (left < 0)
		return DSM_WAIT_KILLED;
	if (left == 0) {
		dsm_count(DSM_ST_TIMEOUTS);
		*err = -ETIMEDOUT;
		return DSM_WAIT_FAILED;
	}
	return DSM_WAIT_RETRY;
}

static vm_fault_t fault_remote(struct vm_fault *vmf, struct dsm_seg *seg,
			       u64 pgno, u8 flags)
{
	enum dsm_wait_outcome out;
	struct dsm_server *srv;
	struct dsm_waiter *w;
	struct file *file;
	int err = 0;

	/* Without ALLOW_RETRY the lock cannot be dropped, and waiting on user
	 * space with it held is what this module never does. */
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY))
		return fault_sigbus();
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;
	srv = dsm_server_get();
	if (!srv)
		return fault_sigbus();
	w = dsm_server_post(srv, seg->seg_id, pgno, flags, &err);
	if (!w && err != -ENOSPC) {
		dsm_server_put(srv);
		return fault_sigbus();
	}
	/* The file pins the module (fops owner) and the segment while we
	 * wait without the mmap lock: the vma may go, rmmod must not. */
	file = get_file(vmf->vma->vm_file);
	kref_get(&seg->ref);
	release_fault_lock_compat(vmf);
	if (w)
		out = dsm_server_wait(srv, w, &err);
	else
		out = wait_for_room(srv, &err);
	if (out == DSM_WAIT_FAILED) {
		pr_warn_ratelimited("dsm: fault on segment %u page %llu failed: %d (pid %d)\n",
				    seg->seg_id, pgno, err, current->tgid);
		fail_record(seg, pgno);
	}
	dsm_seg_put(seg);
	dsm_server_put(srv);
	fput(file);
	return VM_FAULT_RETRY;
}

static vm_fault_t insert_page(struct vm_fault *vmf, struct dsm_seg *seg,
			      u64 pgno, bool rw)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long flags = rw ? vma->vm_flags : vma->vm_flags & ~VM_WRITE;

	dsm_count(DSM_ST_MINOR);
	return vmf_insert_pfn_prot(vma, vmf->address & PAGE_MASK,
				   vmalloc_to_pfn((u8 *)seg->mem + pgno * PAGE_SIZE),
				   vm_get_page_prot(flags));
}

/* What both fault handlers check first: the page is in the segment, no
 * failure is owed to this retry, the segment is alive.  Returns 0 with
 * map_lock held, or VM_FAULT_SIGBUS without it. */
static vm_fault_t fault_begin(struct vm_fault *vmf, struct dsm_seg *seg, u64 pgno)
{
	if (pgno >= seg->npages ||
	    fail_take(seg, pgno, vmf->flags & FAULT_FLAG_TRIED))
		return fault_sigbus();
	mutex_lock(&seg->map_lock);
	if (seg->dead) {
		mutex_unlock(&seg->map_lock);
		return fault_sigbus();
	}
	return 0;
}

static vm_fault_t dsm_vm_fault(struct vm_fault *vmf)
{
	struct dsm_seg *seg = vmf->vma->vm_private_data;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	u64 pgno = vmf->pgoff;
	vm_fault_t ret = fault_begin(vmf, seg, pgno);
	u8 st;

	if (ret)
		return ret;
	st = seg->pstate[pgno];
	if (st == DSM_PS_RW || (st == DSM_PS_RO && !write)) {
		ret = insert_page(vmf, seg, pgno, st == DSM_PS_RW);
		mutex_unlock(&seg->map_lock);
		return ret;
	}
	mutex_unlock(&seg->map_lock);
	return fault_remote(vmf, seg, pgno, write ? DSM_FAULT_WRITE : DSM_FAULT_READ);
}

/* A write to a page mapped read-only.  With the page granted RW, the pte
 * is upgraded here, under map_lock: returning 0 and letting the kernel make
 * the pte writable would check only pte_same(), which a downgrade followed
 * by another thread's read fault can satisfy with a new read-only pte of
 * identical bits - a write would then land after the downgrade's ack. */
static vm_fault_t dsm_vm_pfn_mkwrite(struct vm_fault *vmf)
{
	struct dsm_seg *seg = vmf->vma->vm_private_data;
	u64 pgno = vmf->pgoff;
	vm_fault_t ret = fault_begin(vmf, seg, pgno);

	if (ret)
		return ret;
	if (seg->pstate[pgno] == DSM_PS_RW) {
		zap_vma_ptes(vmf->vma, vmf->address & PAGE_MASK, PAGE_SIZE);
		ret = insert_page(vmf, seg, pgno, true);
		mutex_unlock(&seg->map_lock);
		return ret | VM_FAULT_NOPAGE;
	}
	mutex_unlock(&seg->map_lock);
	ret = fault_remote(vmf, seg, pgno, DSM_FAULT_WRITE | DSM_FAULT_WP);
	/* NOPAGE stops the caller from finishing the write-enable itself:
	 * the lock is gone, the retried fault does it. */
	return ret & VM_FAULT_RETRY ? ret | VM_FAULT_NOPAGE : ret;
}

/* Forks and splits copy a vma: each copy holds the segment. */
static void dsm_vm_open(struct vm_area_struct *vma)
{
	struct dsm_seg *seg = vma->vm_private_data;

	kref_get(&seg->ref);
	dsm_count(DSM_ST_MAPPINGS);
}

/* munmap or exit: tell the server, so its directory mirrors the local
 * mappings.  mm_users is 0 only while the address space is torn down. */
static void dsm_vm_close(struct vm_area_struct *vma)
{
	struct dsm_seg *seg = vma->vm_private_data;
	bool exiting = atomic_read(&vma->vm_mm->mm_users) == 0;

	if (exiting)
		dsm_server_note(DSM_OP_NOTE_EXIT, seg->seg_id, 0, 0, current->tgid);
	else
		dsm_server_note(DSM_OP_NOTE_MUNMAP, seg->seg_id, vma->vm_pgoff,
				vma_pages(vma), current->tgid);
	dsm_count_sub(DSM_ST_MAPPINGS);
	dsm_seg_put(seg);
}

static const struct vm_operations_struct dsm_client_vm_ops = {
	.open = dsm_vm_open,
	.close = dsm_vm_close,
	.fault = dsm_vm_fault,
	.pfn_mkwrite = dsm_vm_pfn_mkwrite,
};

/* ------------------------------------------------------ client files */

int dsm_client_attach(struct file *file, struct dsm_kattach *ka,
		      struct dsm_seg **out)
{
	struct dsm_seg *seg;

	if (ka->flags & ~DSM_KATTACH_F_ALL || ka->resv[0] || ka->resv[1])
		return -EINVAL;
	seg = dsm_seg_get(ka->seg_id);
	if (!seg)
		return -ENOENT;
	/* Every client file of the segment shares its address_space, so one
	 * unmap_mapping_range reaches every process. */
	file->f_mapping = seg->inode->i_mapping;
	*out = seg;
	ka->npages = seg->npages;
	return 0;
}

void dsm_client_release(struct dsm_seg *seg)
{
	dsm_seg_put(seg);
}

int dsm_client_mmap(struct dsm_seg *seg, struct vm_area_struct *vma)
{
	u64 npages = vma_pages(vma);

	/* Coherence needs one copy per node: a private (COW) mapping would
	 * be a second one nobody invalidates. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= seg->npages || npages > seg->npages - vma->vm_pgoff)
		return -EINVAL;
	if (READ_ONCE(seg->dead))
		return -ENOENT;
	dsm_vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &dsm_client_vm_ops;
	vma->vm_private_data = seg;
	dsm_vm_open(vma);
	return 0;
}

/* ------------------------------------------------------- server mmap */

static void dsm_srv_vm_open(struct vm_area_struct *vma)
{
	kref_get(&((struct dsm_seg *)vma->vm_private_data)->ref);
}

static void dsm_srv_vm_close(struct vm_area_struct *vma)
{
	dsm_seg_put(vma->vm_private_data);
}

static const struct vm_operations_struct dsm_server_vm_ops = {
	.open = dsm_srv_vm_open,
	.close = dsm_srv_vm_close,
};

/* The server maps [pgoff, pgoff + len) of the backing (pgoff in pages
 * within the segment). */
int dsm_seg_mmap_server(struct dsm_seg *seg, struct vm_area_struct *vma, u64 pgoff)
{
	int ret;

	if (!(vma->vm_flags & VM_SHARED) || pgoff >= seg->npages ||
	    vma_pages(vma) > seg->npages - pgoff)
		return -EINVAL;
	ret = remap_vmalloc_range(vma, seg->mem, pgoff);
	if (ret)
		return ret;
	vma->vm_ops = &dsm_server_vm_ops;
	vma->vm_private_data = seg;
	dsm_srv_vm_open(vma);
	return 0;
}

/* ------------------------------------------------- the pseudo file system */

#define DSM_FS_MAGIC 0x44534d31 /* "DSM1" */

static int dsm_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, DSM_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type dsm_fs_type = {
	.name = "dsm_seg",
	.init_fs_context = dsm_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

int dsm_seg_init(void)
{
	xa_init(&dsm.segs);
	xa_init_flags(&dsm.by_idx, XA_FLAGS_ALLOC1);
	dsm.mnt = kern_mount(&dsm_fs_type);
	return PTR_ERR_OR_ZERO(dsm.mnt);
}

void dsm_seg_exit(void)
{
	kern_unmount(dsm.mnt);
	xa_destroy(&dsm.segs);
	xa_destroy(&dsm.by_idx);
}
