// One function per subcommand (each in its own cmd_*.cpp). argv excludes the subcommand name.
#pragma once

namespace rcc::cli {

int cmd_info(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_bench_batch(int argc, char** argv);
int cmd_compress(int argc, char** argv);
int cmd_ask(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_bench_context(int argc, char** argv);
int cmd_init(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_data(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);    // cmd_tokenize.cpp
int cmd_detokenize(int argc, char** argv);  // cmd_tokenize.cpp
int cmd_version(int argc, char** argv);
int cmd_serve(int argc, char** argv);

}  // namespace rcc::cli
