# embed_file(<output.cc> <input file> <C++ namespace> <function name>)
# Generates a .cc defining `std::string_view <namespace>::<function>()` that returns the file's
# bytes, so the binary carries the shipped samples and the dev config and never reads the source
# tree at run time.
function(embed_file output input ns fn)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DNS=${ns} -DFN=${fn}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding ${input}")
endfunction()
