/*
 * protobuf.h — a bounded protobuf wire-format reader, shared by the ONNX and TensorFlow
 * SavedModel formats.
 *
 * Hand-written rather than protobuf-c with the official .proto files because it is the
 * security boundary: protobuf-c allocates every repeated field and sub-message of the whole
 * file up front (sizes from the input, recursion bounded only by the stack), and needs
 * generated code for messages whose fields brine mostly skips. This reader allocates
 * nothing: a message is a span, pb_next hands out one field at a time as a slice of it, and
 * callers recurse into the few sub-messages they need with their own depth counter.
 * Encoding facts: protobuf.dev/programming-guides/encoding (varints of at most 10 bytes,
 * wire types 0/1/2/5; groups 3/4 are deprecated and no ONNX or TensorFlow writer emits them,
 * so they are refused).
 */
#ifndef BRINE_FORMATS_PROTOBUF_H
#define BRINE_FORMATS_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

typedef struct pb_msg {
    const uint8_t *p, *end;
    uint64_t at;     /* file offset of p */
    const char *why; /* set when pb_next fails */
    uint64_t why_at;
} pb_msg;

typedef struct pb_field {
    uint32_t num;
    uint32_t wire;
    uint64_t v;          /* PB_VARINT, PB_FIXED64, PB_FIXED32 */
    const uint8_t *data; /* PB_LEN */
    size_t len;
    uint64_t at; /* file offset of the field's value */
} pb_field;

/* A message over data[0..len), whose first byte sits at file offset at. */
void pb_init(pb_msg *m, const uint8_t *data, size_t len, uint64_t at);
/* The sub-message a PB_LEN field holds. */
void pb_sub(pb_msg *m, const pb_field *f);
/* 1: *f is the next field; 0: the message ended; -1: malformed (m->why, m->why_at). */
int pb_next(pb_msg *m, pb_field *f);
/* A varint from a packed span; -1 when it runs past end or over 10 bytes. */
int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

#endif
