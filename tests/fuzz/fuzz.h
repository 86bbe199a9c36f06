/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer's entry points, declared once for every target. Each target is
 * one tests/fuzz/fuzz_*.c with a seed corpus in tests/fuzz/corpus/<name>/;
 * tests/fuzz/run runs them (for a bounded time in `make test`, for
 * FUZZ_SECONDS each in `make fuzz`).
 */
#ifndef NAMETAG_FUZZ_H
#define NAMETAG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
