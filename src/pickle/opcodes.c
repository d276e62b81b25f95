/* opcodes.c — the opcode table indexed by byte, from the generated opcodes.def. */
#include "pickle/opcodes.h"

const pk_opinfo pk_opcodes[256] = {
#define OP(name, code, argkind, proto) [code] = {#name, argkind, proto},
#include "pickle/opcodes.def"
#undef OP
};
