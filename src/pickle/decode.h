/*
 * decode.h — decoding one pickle opcode and its argument, exactly as CPython's unpicklers read
 * it (not as pickletools does: the two disagree on hostile input, see research/formats.md §1.11).
 *
 * There are two CPython unpicklers and they disagree on some arguments: Modules/_pickle.c
 * (pickle.load, torch.load) and Lib/pickle.py (pickle._Unpickler, which joblib subclasses).
 * An argument either of them accepts is decoded; pk_op.rejects names the one that refuses it.
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
    PV_BIGINT_TEXT, /* s/slen: Python int literal (base 0 or 10), too big for int64; for
                     * GET and PUT the canonical decimal digits (a pickle.py memo key) */
    PV_BIGINT_LE,   /* s/slen: little-endian two's complement (LONG1/LONG4), too big for int64 */
    PV_FLOAT,       /* d */
    PV_FLOAT_TEXT,  /* s/slen: a FLOAT line of plain float syntax, in range, not yet parsed: its
                     * value is pk_float_line(s) (the line ends at a newline) */
    PV_STR,         /* s/slen: text as UTF-8 (lone surrogates encoded as in surrogatepass) */
    PV_BYTES,       /* s/slen: bytes */
    PV_PAIR         /* s/slen and s2/s2len: GLOBAL and INST module and name */
} pk_valkind;

/* The two CPython unpicklers, as bits. */
enum {
    PK_UNPICKLER_C = 1,  /* Modules/_pickle.c: pickle.Unpickler, pickle.load(s), torch.load */
    PK_UNPICKLER_PY = 2, /* Lib/pickle.py: pickle._Unpickler, joblib's NumpyUnpickler */
    PK_UNPICKLER_BOTH = 3
};

typedef struct pk_op {
    uint8_t code;
    uint8_t rejects;        /* PK_UNPICKLER_* that raise on this argument (never both) */
    const char *reject_why; /* constant text: why that unpickler raises, when rejects != 0 */
    uint64_t offset; /* of the opcode byte, from the start of the buffer */
    uint64_t end;    /* one past the argument */
    uint64_t mid;    /* where the second read of the argument starts (after the length of a
                      * counted argument, after the module line of GLOBAL/INST), else 0:
                      * pickle.py's frames fail a read() that crosses their end */
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

/* Decodes the opcode at the cursor and advances past its argument. When only one CPython
 * unpickler accepts the argument, decodes it as that one does and sets op->rejects to the
 * other. Returns BRINE_ERR_MALFORMED when neither accepts it: an unknown opcode, a truncated
 * or badly encoded argument,
 * BRINE_ERR_LIMIT for a string over max_string, BRINE_ERR_NOMEM. */
brine_status pk_decode(cursor *c, pk_op *op, pk_pool *pool, const brine_limits *lim,
                       brine_error *err);

/* Validates UTF-8 the way CPython decodes pickle text ("surrogatepass" when allow_surrogates,
 * "strict" otherwise). */
/* The longest FLOAT line decoded as PV_FLOAT_TEXT, newline excluded. */
enum { PK_FLOAT_LINE_MAX = 127 };

/* The value of a PV_FLOAT_TEXT line (its bytes up to the newline), as strtod reads it. */
double pk_float_line(const uint8_t *line);

int pk_utf8_valid(const uint8_t *s, uint64_t n, int allow_surrogates);

#endif
