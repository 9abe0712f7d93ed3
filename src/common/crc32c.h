/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and the
 * event log's record frames.
 *
 * crc32c(0, "123456789", 9) == 0xE3069283. The running value is the finished CRC of what
 * came before, so crc32c(crc32c(0, a, n), b, m) == crc32c(0, a||b, n + m).
 *
 * The SSE4.2 crc32 instruction is used when the CPU has it (checked once, at the first
 * call); otherwise a slicing-by-8 table implementation. Both give identical results and
 * are thread-safe. */
#ifndef IOTHUB_COMMON_CRC32C_H
#define IOTHUB_COMMON_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The table implementation alone, for tests and for comparison in benchmarks. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* Whether crc32c() uses the CPU instruction on this machine. */
bool crc32c_hardware(void);

#endif
