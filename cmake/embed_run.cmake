file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE ${OUTPUT}
"// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace ${NS} {\nnamespace {\nconstexpr char kData[] = {${bytes} '\\0'};\n}  // namespace\nstd::string_view ${FN}() { return {kData, ${size}}; }\n}  // namespace ${NS}\n")
