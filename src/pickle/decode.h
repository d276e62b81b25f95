/*
 * decode.h — decoding one pickle opcode and its argument, exactly as CPython's _pickle.c reads
 * it (not as pickletools does: the two disagree on hostile input, see research/formats.md §1.11).
 */
#ifndef BRINE_PICKLE_DECODE_H
#define BRINE_PICKLE_DECODE_H

#include "brine.h"
#include "core/alloc.h"
#include "core/cursor.h"

typedef enum pk_valkind {
    PV_NONE,        /* no argument */
    PV_INT,         /* i */
    PV_BOOL,        /* i is 0 or 1 (INT spelled 00/01) */
    PV_BIGINT_TEXT, /* s/slen: Python int literal (base 0 or 10), too big for int64 */
    PV_BIGINT_LE,   /* s/slen: little-endian two's complement (LONG1/LONG4), too big for int64 */
    PV_FLOAT,       /* d */
    PV_STR,         /* s/slen: text as UTF-8 (lone surrogates encoded as in surrogatepass) */
    PV_BYTES,       /* s/slen: bytes */
    PV_PAIR         /* s/slen and s2/s2len: GLOBAL and INST module and name */
} pk_valkind;

typedef struct pk_op {
    uint8_t code;
    uint64_t offset; /* of the opcode byte, from the start of the buffer */
    uint64_t end;    /* one past the argument */
    pk_valkind vk;
    int64_t i;
    double d;
    const uint8_t *s;
    uint64_t slen;
    const uint8_t *s2;
    uint64_t s2len;
} pk_op;

/* Memory for decoded escapes (STRING, UNICODE), freed in one call. */
typedef struct pk_pool {
    mem_budget *mem;
    struct pk_blk *head;
} pk_pool;

void pk_pool_init(pk_pool *pool, mem_budget *mem);
void *pk_pool_alloc(pk_pool *pool, size_t n);
void pk_pool_free(pk_pool *pool);

/* Decodes the opcode at the cursor and advances past its argument. Returns
 * BRINE_ERR_MALFORMED for an unknown opcode, a truncated or badly encoded argument,
 * BRINE_ERR_LIMIT for a string over max_string, BRINE_ERR_NOMEM. */
brine_status pk_decode(cursor *c, pk_op *op, pk_pool *pool, const brine_limits *lim,
                       brine_error *err);

/* Validates UTF-8 the way CPython decodes pickle text ("surrogatepass" when allow_surrogates,
 * "strict" otherwise). */
int pk_utf8_valid(const uint8_t *s, uint64_t n, int allow_surrogates);

#endif
