/*
 * The regions the fault handler may serve. The handler runs on any thread at
 * any moment, so lookups take no lock: each slot keeps its address range
 * inline and a count of handlers inside it; removal clears the slot and waits
 * for that count to drain before the region can be freed. Lookups scan up to
 * a high-water mark that follows the highest live slot down again.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <sched.h>

#define MAX_REGIONS 65536

struct registry_slot {
    _Atomic uintptr_t start;
    _Atomic uintptr_t end;
    _Atomic(struct hmm4j_region *) region;
    atomic_int users;
};

static struct registry_slot slots[MAX_REGIONS];
static atomic_int high_water;
static atomic_flag writers = ATOMIC_FLAG_INIT;

static void writers_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&writers, memory_order_acquire))
        sched_yield();
}

static void writers_unlock(void) { atomic_flag_clear_explicit(&writers, memory_order_release); }

int hmm4j_registry_add(struct hmm4j_region *region)
{
    writers_lock();
    int top = atomic_load(&high_water);
    for (int i = 0; i < MAX_REGIONS; i++) {
        if (atomic_load(&slots[i].region) != NULL || atomic_load(&slots[i].users) != 0)
            continue;
        atomic_store(&slots[i].region, region);
        atomic_store(&slots[i].end, (uintptr_t)region->user + region->size);
        atomic_store(&slots[i].start, (uintptr_t)region->user);
        if (i >= top)
            atomic_store(&high_water, i + 1);
        region->slot = i;
        writers_unlock();
        return 0;
    }
    writers_unlock();
    return -ENOSPC;
}

void hmm4j_registry_remove(struct hmm4j_region *region)
{
    struct registry_slot *slot = &slots[region->slot];
    writers_lock();
    atomic_store(&slot->region, NULL);
    atomic_store(&slot->start, 0);
    atomic_store(&slot->end, 0);
    /*
     * Every SIGSEGV of the process scans up to the high-water mark, the JVM's own (safepoint polls, implicit
     * null checks) included: keep it at the highest live slot. Adds take the lowest free slot, so live
     * regions stay packed low. A handler still scanning above the new mark only finds cleared slots.
     */
    int top = atomic_load(&high_water);
    while (top > 0 && atomic_load(&slots[top - 1].region) == NULL)
        top--;
    atomic_store(&high_water, top);
    writers_unlock();
    while (atomic_load(&slot->users) != 0)
        sched_yield();
}

/*
 * A slot being filled has its region and end stored before its start: its start still reads 0, the empty slot's,
 * so the range test alone would take any address below the new end (a JVM fault near 0 included) for the new
 * region's, and the fault would be served at a negative block. Empty starts are skipped, and the region found is
 * checked against its own range once it is held (counted in users, it cannot be freed meanwhile).
 */
struct hmm4j_region *hmm4j_registry_enter(uintptr_t address, int *slot_index)
{
    int top = atomic_load(&high_water);
    for (int i = 0; i < top; i++) {
        struct registry_slot *slot = &slots[i];
        uintptr_t start = atomic_load(&slot->start);
        if (start == 0 || address < start || address >= atomic_load(&slot->end))
            continue;
        atomic_fetch_add(&slot->users, 1);
        struct hmm4j_region *region = atomic_load(&slot->region);
        if (region != NULL && atomic_load(&slot->start) == start && address >= (uintptr_t)region->user &&
            address - (uintptr_t)region->user < region->size) {
            *slot_index = i;
            return region;
        }
        atomic_fetch_sub(&slot->users, 1);
    }
    return NULL;
}

void hmm4j_registry_leave(int slot_index) { atomic_fetch_sub(&slots[slot_index].users, 1); }

int hmm4j_registry_span(void) { return atomic_load(&high_water); }

struct hmm4j_region *hmm4j_registry_enter_slot(int slot_index)
{
    struct registry_slot *slot = &slots[slot_index];
    if (atomic_load(&slot->region) == NULL)
        return NULL;
    atomic_fetch_add(&slot->users, 1);
    /* Removal clears the slot before it waits for its users: a region seen after the increment stays alive. */
    struct hmm4j_region *region = atomic_load(&slot->region);
    if (region == NULL)
        atomic_fetch_sub(&slot->users, 1);
    return region;
}

HMM4J_EXPORT int hmm4j_engine_registry_span(void) { return hmm4j_registry_span(); }
