/* Vulkan executor: one buffer per arena, descriptor sets written once, the whole node list recorded
 * into one command buffer once and replayed; barriers only where a node depends on an earlier one.
 *
 * Lifetime of an executor: ldm_exec_vk creates the arena buffers, the command buffer, its fence and the
 * timestamp query pool, then prepare() makes every node's pipeline and descriptor set, and the arenas are
 * zero-filled. A whole-graph run (one training step) submits the recorded command buffer and waits on the
 * fence; nothing is recorded again unless per-node timing is switched on. Partial runs, uploads and
 * readbacks go through one-shot command buffers (vk_ctx.c), each waited for before the call returns.
 *
 * Because the command buffer is replayed as recorded, everything it captures must stay fixed for the
 * executor's life: the descriptor sets (never updated after prepare), the pipelines, the dispatch sizes
 * and the push-constant values (a node's pc bytes are copied into the command buffer when it is
 * recorded). Values that change per step travel in the arenas, e.g. the host-visible LDM_ARENA_HOST. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/exec.h"
#include "vk/deps.h"
#include "vk/plan.h"
#include "vk/vk_internal.h"

typedef struct {
  ldm_exec base;
  ldm_vk_ctx *c;
  vk_buf arena[LDM_ARENA_COUNT];
  vk_buf staging;
  /* hostdev: when the host arena is staged (ldm_exec_vk), its device-local copy; every recording starts by
   * copying the host arena into it, and the shaders read the host tensors no node writes from it */
  vk_buf hostdev;
    /* staging: host-visible bounce buffer of STAGING_BYTES for the device-local arenas, made on first use */
  VkDescriptorPool dpool;
    /* sets[i], pipes[i], launch[i]: node i's descriptor set, pipeline and dispatch size (prepare) */
  VkDescriptorSet *sets;
  vk_pipe *pipes; /* copies: the context's pipeline table may grow (realloc) */
  ldm_launch *launch;
    /* cb: the recorded whole-graph command buffer, fence: its submission's; qpool: nn + 1 timestamps (only
     * when the device has timestamps); recorded: cb holds the plain (unstamped) recording */
  VkCommandBuffer cb;
  VkFence fence;
  VkQueryPool qpool;
  bool recorded;
  /* part runs (ldm_exec_run_range, e.g. the backward and optimizer parts of a data-parallel step): the last
   * two ranges, each recorded once into its own command buffer and replayed like the whole graph's */
  VkCommandBuffer part_cb[2];
  int part_first[2], part_last[2];
  int part_next;
  ldm_exec *shadow; /* CPU executor for check mode */
  bool check;       /* check mode (ldm_exec_set_check; the context's LDM_CHECK by default) */
} vk_exec;

void ldm_exec_set_check(ldm_exec *e, bool on) {
  if (e && e->is_vk) ((vk_exec *)e)->check = on;
}
bool ldm_exec_check(const ldm_exec *e) { return e && e->is_vk && ((const vk_exec *)e)->check; }

/* Largest chunk of one staging copy: transfers of device-local arenas are split into pieces of at most
 * this size, each its own one-shot submission. */
#define STAGING_BYTES (32u << 20)

/* The barrier between dependent dispatches: a global memory barrier (all buffers at once), compute stage to
 * compute stage. The execution dependency makes every earlier dispatch finish before any later one starts,
 * which alone settles write-after-read; srcAccessMask SHADER_WRITE makes the earlier writes available and
 * dstAccessMask SHADER_READ | SHADER_WRITE visible to the later reads (read-after-write) and writes
 * (write-after-write). SHADER_READ in the source mask adds nothing (reads need no availability) and does
 * no harm. A global barrier rather than VkBufferMemoryBarriers: one per dependency point, whatever the
 * number of tensors involved. */
static void barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       NULL, 0, NULL);
}

/* Prepare pipelines and descriptor sets of every node (once per executor). */
/* One descriptor pool sized exactly for the graph: one set per node and nin + nout storage-buffer
 * descriptors per set (the pool is never freed from, so it needs no FREE_DESCRIPTOR_SET flag). Per node:
 * the op's launch plan (shader, spec constants, workgroup counts) for this device's limits, the pipeline
 * (shared through the context's table) and a descriptor set whose binding k is the k-th input, then
 * outputs, each bound as the exact sub-range of its arena buffer: offset = the tensor's offset (a tensor's
 * own storage starts at a multiple of LDM_ALIGN, which ldm_vk_open checked against
 * minStorageBufferOffsetAlignment; a view binds at its base's offset plus its own, which nothing here
 * checks), range = its bytes, at most maxStorageBufferRange or the whole preparation fails. The sets are
 * written once, here, and never again (the recorded command buffer refers to them). */
/* whether any node writes memory of r (a host-arena range): such a tensor stays bound in the host arena */
static bool host_written(const ldm_graph *g, ldm_range r) {
  for (int i = 0; i < g->nn; i++)
    for (int k = 0; k < g->n[i].nout; k++) {
      ldm_range w = ldm_tensor_range(g, g->n[i].out[k]);
      if (w.arena == r.arena && w.b < r.e && r.b < w.e) return true;
    }
  return false;
}

static ldm_status prepare(vk_exec *x) {
  const ldm_graph *g = x->base.g;
  ldm_vk_ctx *c = x->c;
  int nn = g->nn;
  x->sets = ldm_calloc((size_t)nn + 1, sizeof *x->sets);
  x->pipes = ldm_calloc((size_t)nn + 1, sizeof *x->pipes);
  x->launch = ldm_calloc((size_t)nn + 1, sizeof *x->launch);
  if (!x->sets || !x->pipes || !x->launch) return LDM_ERR_NOMEM;
  uint32_t total_desc = 0;
  for (int i = 0; i < nn; i++) total_desc += (uint32_t)(g->n[i].nin + g->n[i].nout);
  VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, total_desc ? total_desc : 1};
  VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                    .maxSets = (uint32_t)(nn ? nn : 1), .poolSizeCount = 1, .pPoolSizes = &ps};
  VK_TRY(vkCreateDescriptorPool(c->dev, &pci, NULL, &x->dpool), "vkCreateDescriptorPool");
  for (int i = 0; i < nn; i++) {
    const ldm_node *n = &g->n[i];
    LDM_TRY(ldm_op_check_pc(n)); /* pc_size = the manifest's block size of the op */
    ldm_launch *l = &x->launch[i];
    ldm_node_launch(g, n, &c->lim, l);
    uint32_t nb = (uint32_t)(n->nin + n->nout);
    vk_pipe *pp;
    LDM_TRY(ldm_vk_pipeline(c, l->shader, l->spec, l->nspec, nb, n->pc_size, &pp));
    x->pipes[i] = *pp;
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = x->dpool, .descriptorSetCount = 1,
                                      .pSetLayouts = &x->pipes[i].dsl};
    VK_TRY(vkAllocateDescriptorSets(c->dev, &ai, &x->sets[i]), "vkAllocateDescriptorSets");
    VkDescriptorBufferInfo bi[LDM_MAX_IN + LDM_MAX_OUT];
    VkWriteDescriptorSet w[LDM_MAX_IN + LDM_MAX_OUT];
    for (uint32_t k = 0; k < nb; k++) {
      int t = k < (uint32_t)n->nin ? n->in[k] : n->out[k - n->nin];
      ldm_range r = ldm_tensor_range(g, t);
      uint64_t len = (uint64_t)(r.e - r.b);
      /* a scratch tensor (a split's workspace): the plan uses only what one binding holds */
      if (g->t[t].scratch && len > c->lim.max_buffer_range) len = c->lim.max_buffer_range & ~(uint64_t)3;
      if (len > c->lim.max_buffer_range)
        return LDM_FAIL(LDM_ERR_UNSUPPORTED,
                        "tensor '%s' (%.1f MiB) exceeds this device's maxStorageBufferRange (%.1f MiB); use a "
                        "smaller --batch",
                        g->t[t].name, (double)len / 1048576.0, (double)c->lim.max_buffer_range / 1048576.0);
      VkBuffer buf = x->arena[r.arena].buf;
      if (r.arena == LDM_ARENA_HOST && x->hostdev.buf && !host_written(g, r)) buf = x->hostdev.buf;
      bi[k] = (VkDescriptorBufferInfo){buf, (VkDeviceSize)r.b, (VkDeviceSize)len};
      w[k] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = x->sets[i],
                                    .dstBinding = k, .descriptorCount = 1,
                                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[k]};
    }
    vkUpdateDescriptorSets(c->dev, nb, w, 0, NULL);
  }
  return LDM_OK;
}

/* Record nodes [first,last) into cb with dependency barriers (and timestamps when asked). */
/* Nodes run in graph order; dispatches with no dependency between them may overlap on the device, and a
 * barrier() is recorded before a node only when it touches memory that a dispatch since the last barrier
 * touched in a conflicting way: an input overlapping a range written (read-after-write), an output
 * overlapping a range written (write-after-write) or read (write-after-read). The barrier orders everything
 * before it against everything after, so the tracked ranges start empty again after one.
 *
 * With stamps (per-node timing, whole runs only): the query pool is reset inside the command buffer,
 * timestamp 0 is written at TOP_OF_PIPE before the first node, and after node i's dispatch timestamp i + 1
 * at COMPUTE_SHADER, i.e. once that dispatch and everything before it has finished the compute stage; a
 * barrier before every node keeps two nodes from overlapping, so stamp i + 1 minus stamp i is node i alone.
 *
 * The recording ends with one barrier that publishes the shader writes: to the host (HOST stage,
 * HOST_READ: the host reads mapped memory after the fence wait, and a fence alone does not make device
 * writes visible to the host), to transfers (the staging copies of later readbacks), and to the compute
 * shaders of the next submission (a later step replays the same buffer on the same arenas). */
static ldm_status record_nodes(vk_exec *x, VkCommandBuffer cb, int first, int last, bool stamps) {
  const ldm_graph *g = x->base.g;
  ldm_deps deps = {0};
  ldm_status s = LDM_OK;
  if (stamps) {
    vkCmdResetQueryPool(cb, x->qpool, 0, (uint32_t)g->nn + 1);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, x->qpool, 0);
  }
  if (x->hostdev.buf) {
    /* the staged host arena: what the host wrote since the last replay (made visible to the device by the
     * submission itself) into its device-local copy, then one barrier, transfer write -> shader read. The
     * copy's write-after-read against the previous replay's shaders is ordered by the barrier that recording
     * ended with (compute -> transfer). */
    VkBufferCopy reg = {0, 0, x->arena[LDM_ARENA_HOST].size};
    vkCmdCopyBuffer(cb, x->arena[LDM_ARENA_HOST].buf, x->hostdev.buf, 1, &reg);
    VkMemoryBarrier cm = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &cm, 0, NULL,
                         0, NULL);
  }
  for (int i = first; i < last && s == LDM_OK; i++) {
    const ldm_node *n = &g->n[i];
    /* conflicts with the dispatches since the last barrier decide whether this node needs one (vk/deps.c);
     * timing per node serialises the nodes so each stamp measures one node */
    bool need = false;
    s = ldm_deps_next(&deps, g, n, stamps, &need);
    if (s != LDM_OK) break;
    if (need) barrier(cb);
    const vk_pipe *p = &x->pipes[i];
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &x->sets[i], 0, NULL);
    if (n->pc_size) vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, n->pc_size, n->pc);
    const ldm_launch *l = &x->launch[i];
    vkCmdDispatch(cb, l->groups[0], l->groups[1], l->groups[2]);
    if (stamps) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, x->qpool, (uint32_t)i + 1);
  }
  /* results visible to the host and to later transfers */
  /* shader writes -> host reads, transfer reads, later shaders (see above) */
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                         VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       0, 1, &mb, 0, NULL, 0, NULL);
  ldm_deps_free(&deps);
  return s;
}

/* Submit the executor's command buffer and wait for it. The wait makes runs synchronous: the buffer is
 * never submitted while still pending (it is not SIMULTANEOUS_USE), the host may read the host arena as
 * soon as this returns, and the fence can be reset for the next run. No timeout: a hung device is left to
 * the driver's watchdog, which reports it as VK_ERROR_DEVICE_LOST. */
static ldm_status submit_wait(vk_exec *x, VkCommandBuffer cb) {
  ldm_vk_ctx *c = x->c;
  VK_TRY(vkResetFences(c->dev, 1, &x->fence), "vkResetFences");
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
  VK_TRY(vkQueueSubmit(c->queue, 1, &si, x->fence), "vkQueueSubmit");
  VK_TRY(vkWaitForFences(c->dev, 1, &x->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  return LDM_OK;
}

/* The nn + 1 timestamps of the last stamped run (WAIT_BIT: all written; the submission has been waited
 * for), as node_ms[i] = (stamp i + 1 - stamp i) ticks * timestamp_period ns, in milliseconds. */
static ldm_status read_stamps(vk_exec *x) {
  const ldm_graph *g = x->base.g;
  uint32_t nq = (uint32_t)g->nn + 1;
  uint64_t *ts = malloc(nq * sizeof *ts);
  if (!ts) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory");
  VkResult r = vkGetQueryPoolResults(x->c->dev, x->qpool, 0, nq, nq * sizeof *ts, ts, sizeof *ts,
                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r == VK_SUCCESS)
    for (int i = 0; i < g->nn; i++)
      x->base.node_ms[i] = (double)(ts[i + 1] - ts[i]) * x->c->timestamp_period * 1e-6;
  free(ts);
  if (r != VK_SUCCESS) return ldm_vk_fail(r, "vkGetQueryPoolResults", __FILE__, __LINE__);
  return LDM_OK;
}

static ldm_status check_run(vk_exec *x, int first, int last);

/* Run nodes [first, last). Check mode: node by node against the CPU (below). The whole graph: the
 * recorded command buffer, recorded on the first run (record_count counts recordings) and again only for
 * timing runs. A part of the graph [first, last): recorded once into one of two part command buffers
 * (the two latest ranges are kept, so a step run as two parts is two replays), same barrier logic, waited
 * for. */
static ldm_status vk_run(ldm_exec *e, int first, int last) {
  vk_exec *x = (vk_exec *)e;
  ldm_vk_ctx *c = x->c;
  if (x->check) return check_run(x, first, last);
  bool whole = first == 0 && last == e->g->nn;
  bool stamps = e->timing && c->timestamps;
  if (whole) {
    /* the step's command buffer is recorded once; timing mode re-records with per-node stamps */
    if (!x->recorded || stamps) {
      VK_TRY(vkResetCommandBuffer(x->cb, 0), "vkResetCommandBuffer");
      VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      VK_TRY(vkBeginCommandBuffer(x->cb, &bi), "vkBeginCommandBuffer");
      LDM_TRY(record_nodes(x, x->cb, 0, e->g->nn, stamps));
      VK_TRY(vkEndCommandBuffer(x->cb), "vkEndCommandBuffer");
      x->recorded = !stamps;
      e->record_count++;
    }
    LDM_TRY(submit_wait(x, x->cb));
    if (stamps) {
      LDM_TRY(read_stamps(x));
      x->recorded = false; /* next plain run records the fast (unstamped) buffer again */
    }
    return LDM_OK;
  }
  for (int k = 0; k < 2; k++)
    if (x->part_cb[k] && x->part_first[k] == first && x->part_last[k] == last) return submit_wait(x, x->part_cb[k]);
  /* a new range: recorded into the older slot (allocated on first use) */
  int k = x->part_next;
  x->part_next ^= 1;
  if (!x->part_cb[k]) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VK_TRY(vkAllocateCommandBuffers(c->dev, &ai, &x->part_cb[k]), "vkAllocateCommandBuffers");
  } else {
    VK_TRY(vkResetCommandBuffer(x->part_cb[k], 0), "vkResetCommandBuffer");
  }
  x->part_first[k] = x->part_last[k] = -1; /* not valid until recorded */
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VK_TRY(vkBeginCommandBuffer(x->part_cb[k], &bi), "vkBeginCommandBuffer");
  ldm_status s = record_nodes(x, x->part_cb[k], first, last, false);
  VkResult er = vkEndCommandBuffer(x->part_cb[k]);
  LDM_TRY(s);
  VK_TRY(er, "vkEndCommandBuffer");
  x->part_first[k] = first;
  x->part_last[k] = last;
  e->record_count++;
  return submit_wait(x, x->part_cb[k]);
}

/* Host <-> arena copies. A host-visible arena (LDM_ARENA_HOST) is mapped and coherent: a plain memcpy,
 * ordered against device work because every submission has been waited for and vkQueueSubmit makes earlier
 * host writes visible to the device. A device-local arena goes through the staging buffer in chunks of at
 * most STAGING_BYTES, one synchronous one-shot submission per chunk. A chunk's copy is rounded up to whole
 * 4-byte words (ch4; the arena buffers are whole 256-byte blocks, so it stays inside them): a write
 * therefore stores up to 3 bytes of the staging buffer past the data, and vk_write only passes whole words. */
static ldm_status transfer(vk_exec *x, ldm_arena a, int64_t off, void *data, size_t bytes, bool to_device) {
  ldm_vk_ctx *c = x->c;
  vk_buf *ab = &x->arena[a];
  if (ab->map) {
    if (to_device) memcpy((uint8_t *)ab->map + off, data, bytes);
    else memcpy(data, (uint8_t *)ab->map + off, bytes);
    return LDM_OK;
  }
  if (!x->staging.buf) LDM_TRY(ldm_vk_buffer(c, STAGING_BYTES, true, true, &x->staging));
  size_t done = 0;
  while (done < bytes) {
    size_t chunk = bytes - done < STAGING_BYTES ? bytes - done : STAGING_BYTES;
    size_t ch4 = (chunk + 3) & ~(size_t)3;
    if (to_device) memcpy(x->staging.map, (uint8_t *)data + done, chunk); /* callers pass whole words */
    VkCommandBuffer cb;
    LDM_TRY(ldm_vk_oneshot_begin(c, &cb));
    VkBufferCopy reg = to_device ? (VkBufferCopy){0, (VkDeviceSize)(off + (int64_t)done), ch4}
                                 : (VkBufferCopy){(VkDeviceSize)(off + (int64_t)done), 0, ch4};
    /* Before the copy: shader writes of earlier submissions to the arena, and the host's memcpy into the
     * staging buffer, are made available and visible to the transfer (reads and writes); the execution
     * dependency also keeps the copy's arena write after earlier shader reads. (vkQueueSubmit already makes the
     * host write visible; HOST in the source scope says it again.) */
    VkMemoryBarrier pre = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &pre, 0, NULL, 0, NULL);
    if (to_device) vkCmdCopyBuffer(cb, x->staging.buf, ab->buf, 1, &reg);
    else vkCmdCopyBuffer(cb, ab->buf, x->staging.buf, 1, &reg);
    /* After the copy: its writes visible to the host (a readback's memcpy out of staging after the fence
     * wait) and to later shaders (an upload is read, or overwritten, by the next dispatches). */
    VkMemoryBarrier post = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                                             VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &post, 0, NULL, 0,
                         NULL);
    LDM_TRY(ldm_vk_oneshot_end(c, cb));
    if (!to_device) memcpy((uint8_t *)data + done, x->staging.map, chunk);
    done += chunk;
  }
  return LDM_OK;
}

/* A write whose size is not a multiple of 4 into a device-local arena: the last word is read back first
 * and the data written as whole words over it, so the rounded-up copy (transfer) leaves the bytes after
 * the data as they were. */
static ldm_status vk_write(ldm_exec *e, ldm_arena a, int64_t off, const void *d, size_t n) {
  vk_exec *x = (vk_exec *)e;
  if (n % 4 == 0 || x->arena[a].map) return transfer(x, a, off, (void *)d, n, true);
  /* unaligned tail: read-modify-write the last word */
  size_t n4 = (n + 3) & ~(size_t)3;
  uint8_t *tmp = ldm_malloc(n4);
  if (!tmp) return LDM_ERR_NOMEM;
  ldm_status s = transfer(x, a, off + (int64_t)(n4 - 4), tmp + n4 - 4, 4, false);
  if (s == LDM_OK) {
    memcpy(tmp, d, n);
    s = transfer(x, a, off, tmp, n4, true);
  }
  free(tmp);
  return s;
}
static ldm_status vk_read(ldm_exec *e, ldm_arena a, int64_t off, void *d, size_t n) {
  return transfer((vk_exec *)e, a, off, d, n, false);
}
/* the mapped address of an arena offset, NULL for device-local arenas */
static void *vk_host_ptr(ldm_exec *e, ldm_arena a, int64_t off) {
  vk_exec *x = (vk_exec *)e;
  return x->arena[a].map ? (uint8_t *)x->arena[a].map + off : NULL;
}

/* Wait for the device to go idle (no submission may still use these objects), then destroy. Also the
 * clean-up of a half-made executor: every handle is checked. */
static void vk_destroy(ldm_exec *e) {
  vk_exec *x = (vk_exec *)e;
  ldm_vk_ctx *c = x->c;
  vkDeviceWaitIdle(c->dev);
  if (x->shadow) ldm_exec_free(x->shadow);
  if (x->qpool) vkDestroyQueryPool(c->dev, x->qpool, NULL);
  if (x->fence) vkDestroyFence(c->dev, x->fence, NULL);
  if (x->cb) vkFreeCommandBuffers(c->dev, c->pool, 1, &x->cb);
  for (int k = 0; k < 2; k++)
    if (x->part_cb[k]) vkFreeCommandBuffers(c->dev, c->pool, 1, &x->part_cb[k]);
  if (x->dpool) vkDestroyDescriptorPool(c->dev, x->dpool, NULL);
  for (int a = 0; a < LDM_ARENA_COUNT; a++) ldm_vk_buffer_free(c, &x->arena[a]);
  ldm_vk_buffer_free(c, &x->staging);
  ldm_vk_buffer_free(c, &x->hostdev);
  free(x->sets);
  free(x->pipes);
  free(x->launch);
  free(x);
}

static const ldm_exec_vtbl vk_vt = {vk_run, vk_write, vk_read, vk_host_ptr, vk_destroy};

/* An executor for a planned graph on c. Arena buffers: LDM_ARENA_HOST host-visible (readback memory: the
 * host reads losses and flags from it), all others device-local. One primary command buffer from the
 * context's pool (RESET_COMMAND_BUFFER, for re-recording), its fence (created unsignaled; reset before
 * each submission anyway), and with device timestamps a query pool of nn + 1 timestamps. */
ldm_status ldm_exec_vk(ldm_vk_ctx *c, const ldm_graph *g, ldm_exec **out) {
  if (!g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "graph must be planned before execution");
  vk_exec *x = ldm_calloc(1, sizeof *x);
  if (!x) return LDM_ERR_NOMEM;
  x->base.g = g;
  x->base.vt = &vk_vt;
  x->base.is_vk = true;
  x->c = c;
  x->check = c->env.check;
  ldm_status s = LDM_OK;
  x->base.node_ms = ldm_calloc((size_t)g->nn + 1, sizeof(double));
  if (!x->base.node_ms) s = LDM_ERR_NOMEM;
  for (int a = 0; a < LDM_ARENA_COUNT && s == LDM_OK; a++)
    s = ldm_vk_buffer(c, (VkDeviceSize)g->arena_size[a], a == LDM_ARENA_HOST, a == LDM_ARENA_HOST, &x->arena[a]);
  /* the host arena staged (LDM_VK_STAGE_HOST=1, or unset and its memory is not device-local, as on a discrete
   * GPU without resizable BAR): the per-step values the host writes (the step counter AdamW reads) are read
   * by the shaders from device memory rather than across the bus */
  bool stage = c->env.vk_stage_host == 1 ||
               (c->env.vk_stage_host < 0 && !(x->arena[LDM_ARENA_HOST].flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT));
  if (s == LDM_OK && stage && g->arena_size[LDM_ARENA_HOST] > 0)
    s = ldm_vk_buffer(c, (VkDeviceSize)g->arena_size[LDM_ARENA_HOST], false, false, &x->hostdev);
  if (s == LDM_OK) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VkResult r = vkAllocateCommandBuffers(c->dev, &ai, &x->cb);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS) r = vkCreateFence(c->dev, &fci, NULL, &x->fence);
    if (r == VK_SUCCESS && c->timestamps) {
      VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                  .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = (uint32_t)g->nn + 1};
      r = vkCreateQueryPool(c->dev, &qi, NULL, &x->qpool);
    }
    if (r != VK_SUCCESS) s = ldm_vk_fail(r, "creating the executor's command buffer", __FILE__, __LINE__);
  }
  if (s == LDM_OK) s = prepare(x);
  /* vkCmdFillBuffer (a transfer) zeroes each whole buffer; the barrier makes the zeros visible to the
   * shaders and to the host, and orders later host writes to the mapped host arena after the fill. */
  /* arenas start zeroed, as on the CPU backend */
  if (s == LDM_OK) {
    VkCommandBuffer cb;
    s = ldm_vk_oneshot_begin(c, &cb);
    if (s == LDM_OK) {
      for (int a = 0; a < LDM_ARENA_COUNT; a++) vkCmdFillBuffer(cb, x->arena[a].buf, 0, VK_WHOLE_SIZE, 0);
      if (x->hostdev.buf) vkCmdFillBuffer(cb, x->hostdev.buf, 0, VK_WHOLE_SIZE, 0);
      VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                             VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT};
      vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0,
                           NULL);
      s = ldm_vk_oneshot_end(c, cb);
    }
  }
  if (s != LDM_OK) {
    vk_destroy(&x->base);
    return s;
  }
  *out = &x->base;
  return LDM_OK;
}

/* ---------------------------------------------------------------- check mode */
/* Check mode (ldm_exec_set_check; LDM_CHECK=1 when the context opened is the default): every run
 * executes node by node, each node in its own
 * one-shot submission (record_nodes over [i, i + 1), so the same binding and barrier code as a normal run),
 * next to a CPU executor (the shadow, made on first use) that holds a copy of all the arenas, taken from
 * the device at the start of each run. After node i both have run it and each output is compared: F32 by
 * NMSE (sum of squared differences over the sum of squared reference values; the plain sum when the
 * reference is all zeros) against the op's tolerance, NaNs having to sit at the same places; other dtypes
 * byte for byte. The device's values are then written into the shadow, so every node is judged on the
 * same inputs on both sides and an error does not spread into the nodes after it. */

static ldm_status sync_arenas_to_shadow(vk_exec *x) {
  const ldm_graph *g = x->base.g;
  for (int a = 0; a < LDM_ARENA_COUNT; a++) {
    size_t sz = (size_t)g->arena_size[a];
    if (!sz) continue;
    void *tmp = ldm_malloc(sz);
    if (!tmp) return LDM_ERR_NOMEM;
    ldm_status s = vk_read(&x->base, (ldm_arena)a, 0, tmp, sz);
    if (s == LDM_OK) s = ldm_exec_write_arena(x->shadow, (ldm_arena)a, tmp, sz);
    free(tmp);
    LDM_TRY(s);
  }
  return LDM_OK;
}

static ldm_status check_run(vk_exec *x, int first, int last) {
  const ldm_graph *g = x->base.g;
  if (!x->shadow) LDM_TRY(ldm_exec_cpu(g, &x->shadow));
  LDM_TRY(sync_arenas_to_shadow(x));
  for (int i = first; i < last; i++) {
    const ldm_node *n = &g->n[i];
    const ldm_op_desc *d = ldm_op(n->op);
    VkCommandBuffer cb;
    LDM_TRY(ldm_vk_oneshot_begin(x->c, &cb));
    LDM_TRY(record_nodes(x, cb, i, i + 1, false));
    LDM_TRY(ldm_vk_oneshot_end(x->c, cb));
    LDM_TRY(ldm_exec_run_range(x->shadow, i, i + 1));
    for (int k = 0; k < n->nout; k++) {
      int t = n->out[k];
      if (g->t[t].scratch) continue; /* a split's workspace and counters: the CPU never writes them */
      size_t bytes = (size_t)ldm_tensor_bytes(&g->t[t]);
      float *gv = ldm_malloc(bytes), *cv = ldm_malloc(bytes);
      if (!gv || !cv) {
        free(gv);
        free(cv);
        return LDM_ERR_NOMEM;
      }
      ldm_status s = ldm_exec_read(&x->base, t, gv, bytes);
      if (s == LDM_OK) s = ldm_exec_read(x->shadow, t, cv, bytes);
      double num = 0, den = 0, maxd = 0;
      bool nan = false;
      if (g->t[t].dtype == LDM_F32) {
        for (size_t j = 0; j < bytes / 4; j++) {
          if (isnan(gv[j]) != isnan(cv[j])) nan = true;
          if (isnan(gv[j]) || isnan(cv[j])) continue;
          double df = (double)gv[j] - cv[j];
          num += df * df;
          den += (double)cv[j] * cv[j];
          if (fabs(df) > maxd) maxd = fabs(df);
        }
      } else if (memcmp(gv, cv, bytes) != 0) {
        num = 1, den = 1;
      }
      double nmse = den > 0 ? num / den : num;
      if (s == LDM_OK && (nan || nmse > ldm_op_tol(n->op))) {
        s = LDM_FAIL(LDM_ERR_MISMATCH,
                     "check mode: node %d '%s' (op %s) output '%s' diverges from the CPU reference: NMSE %.3g "
                     "(tolerance %.1g), max abs error %.3g%s",
                     i, n->label, d->name, g->t[t].name, nmse, ldm_op_tol(n->op), maxd, nan ? ", NaN mismatch" : "");
      }
      /* continue from the device's values so each node is judged on identical inputs */
      if (s == LDM_OK) s = ldm_exec_write(x->shadow, t, gv, bytes);
      free(gv);
      free(cv);
      LDM_TRY(s);
    }
  }
  return LDM_OK;
}
