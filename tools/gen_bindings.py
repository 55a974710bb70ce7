# generates hmm4j_h.java in jextract's shape from the function list
funcs = [
 ("int","hmm4j_abi_version",[],True,"int hmm4j_abi_version(void)"),
 ("int","hmm4j_engine_init",[],False,"int hmm4j_engine_init(void)"),
 ("int","hmm4j_engine_ensure_handler",[],False,"int hmm4j_engine_ensure_handler(void)"),
 ("int","hmm4j_engine_registry_span",[],True,"int hmm4j_engine_registry_span(void)"),
 ("int","hmm4j_uffd_enable",[],False,"int hmm4j_uffd_enable(void)"),
 ("int","hmm4j_uffd_status",[],True,"int hmm4j_uffd_status(void)"),
 ("long","hmm4j_engine_page_size",[],True,"int64_t hmm4j_engine_page_size(void)"),
 ("int","hmm4j_layout_describe",[("int","layout_id"),("ptr","out"),("int","max")],False,"int hmm4j_layout_describe(int layout_id, uint64_t *out, int max)"),
 ("ptr","hmm4j_stats_global",[],True,"struct hmm4j_stats *hmm4j_stats_global(void)"),
 ("int","hmm4j_stats_count_copy",[("ptr","stats"),("int","direction"),("int","cause"),("long","bytes")],True,"int hmm4j_stats_count_copy(struct hmm4j_stats *stats, int32_t direction, int32_t cause, uint64_t bytes)"),
 ("int","hmm4j_region_create",[("long","size"),("long","block_size"),("ptr","stats"),("ptr","out")],False,"int hmm4j_region_create(uint64_t size, uint64_t block_size, struct hmm4j_stats *stats, struct hmm4j_region **out)"),
 ("int","hmm4j_region_create_file",[("ptr","path"),("long","offset"),("long","length"),("long","block_size"),("int","writable"),("ptr","stats"),("ptr","out")],False,"int hmm4j_region_create_file(const char *path, uint64_t offset, uint64_t length, uint64_t block_size, int32_t writable, struct hmm4j_stats *stats, struct hmm4j_region **out)"),
 ("int","hmm4j_region_create_shared",[("ptr","name"),("long","size"),("int","element_size"),("long","block_size"),("int","create"),("ptr","stats"),("ptr","out")],False,"int hmm4j_region_create_shared(const char *name, uint64_t size, uint32_t element_size, uint64_t block_size, int32_t create, struct hmm4j_stats *stats, struct hmm4j_region **out)"),
 ("int","hmm4j_shared_unlink",[("ptr","name")],False,"int hmm4j_shared_unlink(const char *name)"),
 ("long","hmm4j_region_shared_info",[("ptr","region"),("int","what")],True,"int64_t hmm4j_region_shared_info(const struct hmm4j_region *region, int32_t what)"),
 ("void","hmm4j_shared_set_timeout",[("int","milliseconds")],True,"void hmm4j_shared_set_timeout(uint32_t milliseconds)"),
 ("int","hmm4j_region_shared_abandon",[("ptr","region")],False,"int hmm4j_region_shared_abandon(struct hmm4j_region *region)"),
 ("int","hmm4j_region_force",[("ptr","region"),("int","cause")],False,"int hmm4j_region_force(struct hmm4j_region *region, int32_t cause)"),
 ("int","hmm4j_region_use_uffd",[("ptr","region")],False,"int hmm4j_region_use_uffd(struct hmm4j_region *region)"),
 ("void","hmm4j_region_destroy",[("ptr","region")],False,"void hmm4j_region_destroy(struct hmm4j_region *region)"),
 ("ptr","hmm4j_region_user_base",[("ptr","region")],True,"void *hmm4j_region_user_base(const struct hmm4j_region *region)"),
 ("ptr","hmm4j_region_engine_base",[("ptr","region")],True,"void *hmm4j_region_engine_base(const struct hmm4j_region *region)"),
 ("long","hmm4j_region_size",[("ptr","region")],True,"uint64_t hmm4j_region_size(const struct hmm4j_region *region)"),
 ("long","hmm4j_region_block_size",[("ptr","region")],True,"uint64_t hmm4j_region_block_size(const struct hmm4j_region *region)"),
 ("long","hmm4j_region_block_count",[("ptr","region")],True,"uint64_t hmm4j_region_block_count(const struct hmm4j_region *region)"),
 ("int","hmm4j_region_bind",[("ptr","region"),("ptr","device"),("long","device_base")],False,"int hmm4j_region_bind(struct hmm4j_region *region, struct hmm4j_device *device, uint64_t device_base)"),
 ("int","hmm4j_region_unbind",[("ptr","region"),("int","cause")],False,"int hmm4j_region_unbind(struct hmm4j_region *region, int32_t cause)"),
 ("int","hmm4j_region_unbind_device",[("ptr","region"),("ptr","device"),("int","cause")],False,"int hmm4j_region_unbind_device(struct hmm4j_region *region, struct hmm4j_device *device, int32_t cause)"),
 ("long","hmm4j_region_reclaim",[("ptr","region")],False,"int64_t hmm4j_region_reclaim(struct hmm4j_region *region)"),
 ("long","hmm4j_region_host_bytes",[("ptr","region")],False,"int64_t hmm4j_region_host_bytes(const struct hmm4j_region *region)"),
 ("long","hmm4j_region_reclaim_host",[("ptr","region"),("long","max_blocks")],False,"int64_t hmm4j_region_reclaim_host(struct hmm4j_region *region, uint64_t max_blocks)"),
 ("void","hmm4j_region_set_host_headroom",[("ptr","region"),("ptr","headroom")],False,"void hmm4j_region_set_host_headroom(struct hmm4j_region *region, int64_t *headroom)"),
 ("void","hmm4j_region_set_host_spill",[("ptr","region"),("int","allow")],False,"void hmm4j_region_set_host_spill(struct hmm4j_region *region, int32_t allow)"),
 ("void","hmm4j_region_touch",[("ptr","region"),("long","stamp")],True,"void hmm4j_region_touch(struct hmm4j_region *region, uint64_t stamp)"),
 ("int","hmm4j_pressure_open",[("ptr","path"),("long","stall_us"),("long","window_us")],False,"int hmm4j_pressure_open(const char *path, uint64_t stall_us, uint64_t window_us)"),
 ("int","hmm4j_pressure_wait",[("int","fd"),("int","timeout_ms")],False,"int hmm4j_pressure_wait(int32_t fd, int32_t timeout_ms)"),
 ("void","hmm4j_pressure_close",[("int","fd")],False,"void hmm4j_pressure_close(int32_t fd)"),
 ("long","hmm4j_region_device_base",[("ptr","region")],True,"uint64_t hmm4j_region_device_base(const struct hmm4j_region *region)"),
 ("long","hmm4j_region_snapshot",[("ptr","region"),("ptr","states"),("long","n")],False,"int64_t hmm4j_region_snapshot(struct hmm4j_region *region, uint8_t *states, uint64_t n)"),
 ("long","hmm4j_region_snapshot_valid",[("ptr","region"),("ptr","masks"),("long","n")],False,"int64_t hmm4j_region_snapshot_valid(struct hmm4j_region *region, uint8_t *masks, uint64_t n)"),
 ("int","hmm4j_region_settle_uploads",[("ptr","region"),("ptr","device")],False,"int hmm4j_region_settle_uploads(struct hmm4j_region *region, struct hmm4j_device *device)"),
 ("int","hmm4j_region_launch_enqueued",[("ptr","region")],False,"int hmm4j_region_launch_enqueued(struct hmm4j_region *region)"),
 ("int","hmm4j_region_launch_enqueued_blocks",[("ptr","region"),("long","first_block"),("long","count")],False,"int hmm4j_region_launch_enqueued_blocks(struct hmm4j_region *region, uint64_t first_block, uint64_t count)"),
 ("void","hmm4j_region_launch_abandoned",[("ptr","region")],True,"void hmm4j_region_launch_abandoned(struct hmm4j_region *region)"),
 ("void","hmm4j_region_launch_begin",[("ptr","region")],True,"void hmm4j_region_launch_begin(struct hmm4j_region *region)"),
 ("void","hmm4j_region_launch_end",[("ptr","region")],True,"void hmm4j_region_launch_end(struct hmm4j_region *region)"),
 ("void","hmm4j_region_set_prefetch",[("ptr","region"),("long","max_blocks")],False,"void hmm4j_region_set_prefetch(struct hmm4j_region *region, uint64_t max_blocks)"),
 ("void","hmm4j_region_set_release_host",[("ptr","region"),("int","release")],False,"void hmm4j_region_set_release_host(struct hmm4j_region *region, int32_t release)"),
 ("void","hmm4j_region_inject_protect_failure",[("ptr","region"),("int","skip"),("int","count")],True,"void hmm4j_region_inject_protect_failure(struct hmm4j_region *region, uint32_t skip, uint32_t count)"),
 ("void","hmm4j_engine_inject_host_reserve_failure",[("int","skip"),("int","count")],True,"void hmm4j_engine_inject_host_reserve_failure(uint32_t skip, uint32_t count)"),
 ("int","hmm4j_migrate",[("ptr","request")],False,"int hmm4j_migrate(struct hmm4j_migrate *request)"),
 ("int","hmm4j_device_create_emulated",[("long","latency_ns"),("long","bytes_per_second"),("ptr","out")],False,"int hmm4j_device_create_emulated(uint64_t latency_ns, uint64_t bytes_per_second, struct hmm4j_device **out)"),
 ("int","hmm4j_device_create_emulated_engines",[("long","latency_ns"),("long","bytes_per_second"),("long","kernel_bytes_per_second"),("int","overlap"),("ptr","out")],False,"int hmm4j_device_create_emulated_engines(uint64_t latency_ns, uint64_t bytes_per_second, uint64_t kernel_bytes_per_second, int32_t overlap, struct hmm4j_device **out)"),
 ("int","hmm4j_device_emulated_launch",[("ptr","device"),("int","kernel"),("ptr","args"),("int","nargs"),("ptr","event")],False,"int hmm4j_device_emulated_launch(struct hmm4j_device *device, int32_t kernel, const uint64_t *args, int32_t nargs, uint64_t *event)"),
 ("int","hmm4j_device_emulated_set_peer",[("ptr","device"),("long","latency_ns"),("long","bytes_per_second")],False,"int hmm4j_device_emulated_set_peer(struct hmm4j_device *device, uint64_t latency_ns, uint64_t bytes_per_second)"),
 ("int","hmm4j_device_create_cuda",[("ptr","libcuda_path"),("long","context"),("long","stream"),("ptr","out")],False,"int hmm4j_device_create_cuda(const char *libcuda_path, uint64_t context, uint64_t stream, struct hmm4j_device **out)"),
 ("int","hmm4j_device_create_opencl",[("ptr","libopencl_path"),("long","queue"),("ptr","out")],False,"int hmm4j_device_create_opencl(const char *libopencl_path, uint64_t queue, struct hmm4j_device **out)"),
 ("int","hmm4j_device_opencl_set_buffer",[("ptr","device"),("int","slot"),("long","mem")],False,"int hmm4j_device_opencl_set_buffer(struct hmm4j_device *device, uint32_t slot, uint64_t mem)"),
 ("int","hmm4j_device_opencl_set_copy_queue",[("ptr","device"),("long","queue")],False,"int hmm4j_device_opencl_set_copy_queue(struct hmm4j_device *device, uint64_t queue)"),
 ("int","hmm4j_device_cuda_set_copy_stream",[("ptr","device"),("long","stream")],False,"int hmm4j_device_cuda_set_copy_stream(struct hmm4j_device *device, uint64_t stream)"),
 ("int","hmm4j_device_order_launch",[("ptr","device")],False,"int hmm4j_device_order_launch(struct hmm4j_device *device)"),
 ("void","hmm4j_device_destroy",[("ptr","device")],False,"void hmm4j_device_destroy(struct hmm4j_device *device)"),
 ("int","hmm4j_device_copy_to_device",[("ptr","device"),("long","device_addr"),("ptr","host"),("long","bytes")],False,"int hmm4j_device_copy_to_device(struct hmm4j_device *device, uint64_t device_addr, const void *host, uint64_t bytes)"),
 ("int","hmm4j_device_copy_to_host",[("ptr","device"),("ptr","host"),("long","device_addr"),("long","bytes")],False,"int hmm4j_device_copy_to_host(struct hmm4j_device *device, void *host, uint64_t device_addr, uint64_t bytes)"),
 ("int","hmm4j_device_copy_unpaced",[("ptr","device"),("int","direction"),("long","device_addr"),("ptr","host"),("long","bytes"),("ptr","paced_until")],False,"int hmm4j_device_copy_unpaced(struct hmm4j_device *device, int32_t direction, uint64_t device_addr, void *host, uint64_t bytes, uint64_t *paced_until)"),
 ("void","hmm4j_device_pace",[("long","paced_until")],False,"void hmm4j_device_pace(uint64_t paced_until)"),
 ("int","hmm4j_device_zero",[("ptr","device"),("long","device_addr"),("long","bytes")],False,"int hmm4j_device_zero(struct hmm4j_device *device, uint64_t device_addr, uint64_t bytes)"),
 ("int","hmm4j_device_synchronize",[("ptr","device")],False,"int hmm4j_device_synchronize(struct hmm4j_device *device)"),
 ("long","hmm4j_device_last_error",[("ptr","device")],True,"int64_t hmm4j_device_last_error(const struct hmm4j_device *device)"),
 ("void","hmm4j_device_inject",[("ptr","device"),("int","what"),("long","after_bytes")],True,"void hmm4j_device_inject(struct hmm4j_device *device, int32_t what, uint64_t after_bytes)"),
 ("int","hmm4j_fence_create",[("ptr","device"),("long","event"),("ptr","out")],False,"int hmm4j_fence_create(struct hmm4j_device *device, uint64_t event, struct hmm4j_fence **out)"),
 ("void","hmm4j_fence_get",[("ptr","fence")],True,"void hmm4j_fence_get(struct hmm4j_fence *fence)"),
 ("void","hmm4j_fence_put",[("ptr","fence")],False,"void hmm4j_fence_put(struct hmm4j_fence *fence)"),
 ("int","hmm4j_fence_wait",[("ptr","fence")],False,"int hmm4j_fence_wait(struct hmm4j_fence *fence)"),
 ("int","hmm4j_region_set_zero_copy",[("ptr","region"),("int","on")],False,"int hmm4j_region_set_zero_copy(struct hmm4j_region *region, int32_t on)"),
 ("int","hmm4j_region_is_zero_copy",[("ptr","region")],False,"int32_t hmm4j_region_is_zero_copy(struct hmm4j_region *region)"),
 ("int","hmm4j_region_zero_copy_begin",[("ptr","region"),("ptr","device"),("int","writes")],False,"int hmm4j_region_zero_copy_begin(struct hmm4j_region *region, struct hmm4j_device *device, int32_t writes)"),
 ("int","hmm4j_region_zero_copy_enqueued",[("ptr","region")],False,"int hmm4j_region_zero_copy_enqueued(struct hmm4j_region *region)"),
 ("void","hmm4j_region_zero_copy_end",[("ptr","region")],False,"void hmm4j_region_zero_copy_end(struct hmm4j_region *region)"),
 ("int","hmm4j_device_map_host",[("ptr","device"),("ptr","host"),("long","bytes"),("ptr","device_addr")],False,"int hmm4j_device_map_host(struct hmm4j_device *device, void *host, uint64_t bytes, uint64_t *device_addr)"),
 ("void","hmm4j_device_unmap_host",[("ptr","device"),("ptr","host"),("long","bytes")],False,"void hmm4j_device_unmap_host(struct hmm4j_device *device, void *host, uint64_t bytes)"),
 ("long","hmm4j_device_host_mapped_bytes",[("ptr","device"),("long","addr"),("long","bytes")],False,"uint64_t hmm4j_device_host_mapped_bytes(struct hmm4j_device *device, uint64_t addr, uint64_t bytes)"),
 ("int","hmm4j_device_emulated_bus_wait",[("ptr","device"),("long","start_ns"),("long","bytes")],False,"int hmm4j_device_emulated_bus_wait(struct hmm4j_device *device, uint64_t start_ns, uint64_t bytes)"),
 ("int","hmm4j_region_fence_attach",[("ptr","region"),("ptr","fence")],False,"int hmm4j_region_fence_attach(struct hmm4j_region *region, struct hmm4j_fence *fence)"),
 ("void","hmm4j_region_fence_detach",[("ptr","region"),("ptr","fence")],False,"void hmm4j_region_fence_detach(struct hmm4j_region *region, struct hmm4j_fence *fence)"),
 ("long","hmm4j_device_synchronizations",[("ptr","device")],True,"uint64_t hmm4j_device_synchronizations(const struct hmm4j_device *device)"),
 ("long","hmm4j_device_event_waits",[("ptr","device")],True,"uint64_t hmm4j_device_event_waits(const struct hmm4j_device *device)"),
 ("long","hmm4j_device_async_copies",[("ptr","device")],True,"uint64_t hmm4j_device_async_copies(const struct hmm4j_device *device)"),
 ("long","hmm4j_device_unpaced_copies",[("ptr","device")],True,"uint64_t hmm4j_device_unpaced_copies(const struct hmm4j_device *device)"),
 ("void","hmm4j_device_set_pinned_limit",[("ptr","device"),("long","bytes")],True,"void hmm4j_device_set_pinned_limit(struct hmm4j_device *device, uint64_t bytes)"),
 ("long","hmm4j_device_pinned_bytes",[("ptr","device")],True,"uint64_t hmm4j_device_pinned_bytes(const struct hmm4j_device *device)"),
 ("long","hmm4j_device_pin_refusals",[("ptr","device")],True,"uint64_t hmm4j_device_pin_refusals(const struct hmm4j_device *device)"),
 ("void","hmm4j_device_test_pretend_pinning",[("ptr","device")],True,"void hmm4j_device_test_pretend_pinning(struct hmm4j_device *device)"),
]
jt = {"int":"int","long":"long","ptr":"MemorySegment","void":"void"}
lay = {"int":"hmm4j_h.C_INT","long":"hmm4j_h.C_LONG","ptr":"hmm4j_h.C_POINTER"}
out = []
out.append('''// Generated by tools/gen_bindings.py from native-headers/hmm4j.h in the shape jextract produces. Do not edit.
package io.hmm4j.internal.ffm;

import io.hmm4j.internal.engine.NativeLibrary;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

@SuppressWarnings("unused")
public final class hmm4j_h {

    private hmm4j_h() {}

    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    public static final int HMM4J_ABI_VERSION = @ABI_VERSION@;
    public static final int HMM4J_MAX_BINDINGS = 8;
    public static final int HMM4J_EMAPLIMIT = 4096;
    public static final int HMM4J_ENOHOSTMEM = 4097;
    public static final int HMM4J_BLOCK_HOST = 0;
    public static final int HMM4J_BLOCK_SHARED = 1;
    public static final int HMM4J_BLOCK_DEVICE = 2;
    public static final int HMM4J_TO_DEVICE = 0;
    public static final int HMM4J_TO_HOST = 1;
    public static final int HMM4J_INTENT_READ = 1;
    public static final int HMM4J_INTENT_WRITE = 2;
    public static final int HMM4J_INTENT_KEEP_HOST = 4;
    public static final int HMM4J_INTENT_DISCARD = 8;
    public static final int HMM4J_INTENT_ASYNC = 16;
    public static final int HMM4J_INTENT_LAZY = 32;
    public static final int HMM4J_CAUSE_FAULT = 0;
    public static final int HMM4J_CAUSE_LAUNCH = 1;
    public static final int HMM4J_CAUSE_PREFETCH = 2;
    public static final int HMM4J_CAUSE_EVICTION = 3;
    public static final int HMM4J_CAUSE_COUNT = 4;
    public static final int HMM4J_MIGRATE_COPIED = 0x1;
    public static final int HMM4J_MIGRATE_CHANGED = 0x2;
    public static final int HMM4J_MIGRATE_FAILED = 0x4;
    public static final int HMM4J_INJECT_NONE = 0;
    public static final int HMM4J_INJECT_COPY_TO_DEVICE = 1;
    public static final int HMM4J_INJECT_COPY_TO_HOST = 2;
    public static final int HMM4J_INJECT_DEVICE_LOST = 3;
    public static final int HMM4J_INJECT_DEVICE_UNREADABLE = 4;
    public static final int HMM4J_EMULATED_HOST_KERNEL = 0;
    public static final int HMM4J_EMULATED_FILL = 1;
    public static final int HMM4J_EMULATED_SCALE = 2;
    public static final int HMM4J_EMULATED_AXPY = 3;
    public static final int HMM4J_EMULATED_DOT = 4;
    public static final int HMM4J_EMULATED_SUM = 5;
    public static final int HMM4J_EMULATED_STENCIL_2D = 6;
    public static final int HMM4J_EMULATED_MAX_ARGS = 8;
    public static final int HMM4J_LAYOUT_STATS = 0;
    public static final int HMM4J_LAYOUT_MIGRATE = 1;
    public static final int HMM4J_SHARED_BYTES = 0;
    public static final int HMM4J_SHARED_ELEMENT_SIZE = 1;
    public static final int HMM4J_SHARED_LOST_BLOCKS = 2;
    public static final int HMM4J_SHARED_RECOVERED_PEERS = 3;
    public static final int HMM4J_SHARED_ATTACHMENTS = 4;

    static final Linker LINKER = Linker.nativeLinker();

    static MemorySegment findOrThrow(String symbol) {
        SymbolLookup lookup = NativeLibrary.lookup();
        return lookup.find(symbol).orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + symbol));
    }
''')
for ret, name, args, critical, proto in funcs:
    d_args = ", ".join(lay[a] for a,_ in args)
    if ret == "void":
        desc = f"FunctionDescriptor.ofVoid({d_args})"
    else:
        desc = f"FunctionDescriptor.of({lay[ret]}{', ' if args else ''}{d_args})"
    opts = ", Linker.Option.critical(false)" if critical else ""
    params = ", ".join(f"{jt[a]} {n}" for a,n in args)
    call = ", ".join(n for _,n in args)
    cast = "" if ret=="void" else f"return ({jt[ret]}) "
    out.append(f'''
    private static final class {name} {{
        static final FunctionDescriptor DESC = {desc};
        static final MemorySegment ADDR = findOrThrow("{name}");
        static final MethodHandle HANDLE = LINKER.downcallHandle(ADDR, DESC{opts});
    }}

    /**
     * {{@snippet lang=c :
     * {proto}
     * }}
     */
    public static {jt[ret]} {name}({params}) {{
        var mh$ = {name}.HANDLE;
        try {{
            {cast}mh$.invokeExact({call});
        }} catch (Error | RuntimeException ex) {{
            throw ex;
        }} catch (Throwable ex$) {{
            throw new AssertionError("should not reach here", ex$);
        }}
    }}
''')
out.append("}\n")
import os
import re
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# One place for the ABI version: the header's define.
abi = re.search(r"^#define HMM4J_ABI_VERSION (\d+)$", open(os.path.join(root, "native-headers/hmm4j.h")).read(), re.M).group(1)
target = os.path.join(root, "runtime/src/main/java/io/hmm4j/internal/ffm/hmm4j_h.java")
open(target, "w").write("".join(out).replace("@ABI_VERSION@", abi))
