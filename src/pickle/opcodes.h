/*
 * opcodes.h — the pickle opcode table (generated into opcodes.def from pickletools.opcodes).
 */
#ifndef BRINE_PICKLE_OPCODES_H
#define BRINE_PICKLE_OPCODES_H

#include <stdint.h>

/* Argument encodings, named as in pickletools' ArgumentDescriptor. */
typedef enum pk_argkind {
    ARG_NONE, ARG_UINT1, ARG_UINT2, ARG_INT4, ARG_UINT4, ARG_UINT8,
    ARG_DECIMALNL_SHORT, ARG_DECIMALNL_LONG, ARG_STRINGNL, ARG_STRINGNL_NOESCAPE,
    ARG_STRINGNL_NOESCAPE_PAIR, ARG_STRING1, ARG_STRING4, ARG_BYTES1, ARG_BYTES4, ARG_BYTES8,
    ARG_BYTEARRAY8, ARG_UNICODESTRINGNL, ARG_UNICODESTRING1, ARG_UNICODESTRING4,
    ARG_UNICODESTRING8, ARG_FLOATNL, ARG_FLOAT8, ARG_LONG1, ARG_LONG4
} pk_argkind;

enum pk_opcode {
#define OP(name, code, arg, proto) OPC_##name = code,
#include "pickle/opcodes.def"
#undef OP
};

typedef struct pk_opinfo {
    const char *name;   /* NULL: not an opcode */
    pk_argkind arg;
    uint8_t proto;
} pk_opinfo;

/* Indexed by the opcode byte. */
extern const pk_opinfo pk_opcodes[256];

#endif
