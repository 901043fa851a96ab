/* Defines the no-op marker std::ios_base_library_init() that GCC 13+ binaries reference with
   version GLIBCXX_3.4.32, for systems whose libstdc++ predates it (Debian 12). See TorchSharpDebian12.targets. */
void _ZSt21ios_base_library_initv(void) {}
