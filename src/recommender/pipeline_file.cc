// Pipeline files and BuildPipeline (recommender.h).
//
// The model and the index keep their own, already checksummed, file formats;
// a pipeline file nests their bytes as I32 word tensors (exact byte counts in
// metadata) inside one tensor file, whose whole-file CRC covers everything.
// Model and index loaders read paths, so nested files pass through a private
// temporary file that is removed right after.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/status.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/longshort.h"
#include "recsys/recommender.h"

namespace recsys {
namespace {

// A file in the temp directory, removed on destruction.
class TempPath {
 public:
  explicit TempPath(const std::string& tag) {
    static std::atomic<uint64_t> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             absl::StrCat("recsys_", tag, "_", ::getpid(), "_", counter.fetch_add(1), ".tmp"))
                .string();
  }
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::Status WriteAll(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

absl::Status AddBytes(TensorFile* file, const std::string& name, const std::string& bytes) {
  std::vector<int32_t> words((bytes.size() + 3) / 4, 0);
  if (!bytes.empty()) std::memcpy(words.data(), bytes.data(), bytes.size());
  file->metadata[name + "_bytes"] = absl::StrCat(bytes.size());
  return file->Add<int32_t>(name, {static_cast<int64_t>(words.size())}, words);
}

absl::StatusOr<std::string> GetBytes(const TensorFile& file, const std::string& name, const std::string& where) {
  auto meta = file.Meta(name + "_bytes");
  if (!meta.ok()) return absl::DataLossError(absl::StrCat(where, ": metadata '", name, "_bytes' missing"));
  uint64_t n = 0;
  if (!absl::SimpleAtoi(*meta, &n)) {
    return absl::DataLossError(absl::StrCat(where, ": metadata '", name, "_bytes' = '", *meta, "' is not a count"));
  }
  auto shape = file.Shape(name);
  if (!shape.ok()) return absl::DataLossError(absl::StrCat(where, ": tensor '", name, "' missing"));
  if (shape->size() != 1 || static_cast<uint64_t>((*shape)[0]) != (n + 3) / 4) {
    return absl::DataLossError(absl::StrCat(where, ": tensor '", name, "' has shape ", ShapeString(*shape),
                                            ", expected [", (n + 3) / 4, "] for ", n, " bytes"));
  }
  RECSYS_ASSIGN_OR_RETURN(std::vector<int32_t> words, file.Get<int32_t>(name));
  return std::string(reinterpret_cast<const char*>(words.data()), n);
}

}  // namespace

absl::StatusOr<Pipeline> BuildPipeline(std::shared_ptr<const SequentialModel> model,
                                       const PipelineBuildOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("BuildPipeline: model is null");
  Pipeline p;
  p.model = model;
  const auto* ls = dynamic_cast<const LongShortModel*>(model.get());
  if (ls != nullptr && !options.index_factory.empty()) {
    const MatrixF& e = ls->item_embeddings();
    if (!e.allFinite()) return absl::FailedPreconditionError("BuildPipeline: item embeddings contain NaN/Inf");
    AnnIndexConfig ic;
    ic.factory = options.index_factory;
    ic.dim = static_cast<int>(e.cols());
    ic.hnsw_ef_construction = options.hnsw_ef_construction;
    ic.default_ef_search = options.default_ef_search;
    ic.default_nprobe = options.default_nprobe;
    ic.locality_order = options.locality_order;
    RECSYS_ASSIGN_OR_RETURN(auto index, AnnIndex::Create(ic));
    RECSYS_RETURN_IF_ERROR(index->Add(e));
    p.index = std::move(index);
  }
  return p;
}

absl::Status SavePipeline(const Pipeline& pipeline, const std::string& path) {
  if (pipeline.model == nullptr) return absl::InvalidArgumentError("SavePipeline: model is null");
  TensorFile file;
  file.metadata["model_type"] = "pipeline";
  file.metadata["pipeline_version"] = std::string(kPipelineVersion);
  file.metadata["ranker_type"] = pipeline.model->type();
  {
    TempPath tmp("model");
    RECSYS_RETURN_IF_ERROR(pipeline.model->Save(tmp.path()));
    RECSYS_ASSIGN_OR_RETURN(std::string bytes, ReadAll(tmp.path()));
    RECSYS_RETURN_IF_ERROR(AddBytes(&file, "model_file", bytes));
  }
  if (pipeline.index != nullptr) {
    TempPath tmp("index");
    RECSYS_RETURN_IF_ERROR(pipeline.index->Save(tmp.path()));
    RECSYS_ASSIGN_OR_RETURN(std::string bytes, ReadAll(tmp.path()));
    RECSYS_RETURN_IF_ERROR(AddBytes(&file, "index_file", bytes));
    file.metadata["index_factory"] = pipeline.index->factory();
  }
  if (!pipeline.popularity.empty()) {
    RECSYS_RETURN_IF_ERROR(
        file.Add<float>("popularity", {static_cast<int64_t>(pipeline.popularity.size())}, pipeline.popularity));
  }
  if (!pipeline.categories.empty()) {
    RECSYS_RETURN_IF_ERROR(
        file.Add<int32_t>("categories", {static_cast<int64_t>(pipeline.categories.size())}, pipeline.categories));
  }
  return WriteTensorFile(path, file);
}

absl::StatusOr<Pipeline> ParsePipeline(std::string_view bytes, const std::string& name) {
  RECSYS_ASSIGN_OR_RETURN(TensorFile file, ParseTensorFile(bytes, name));
  auto type = file.Meta("model_type");
  if (!type.ok() || *type != "pipeline") {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": not a pipeline file (model_type '", type.ok() ? *type : std::string(), "')"));
  }
  auto version = file.Meta("pipeline_version");
  if (!version.ok()) return absl::DataLossError(absl::StrCat(name, ": metadata 'pipeline_version' missing"));
  if (*version != kPipelineVersion) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": pipeline format version ", *version,
                                                      " is not supported (this build reads ", kPipelineVersion,
                                                      ")"));
  }
  Pipeline p;
  p.name = name;
  {
    RECSYS_ASSIGN_OR_RETURN(std::string model_bytes, GetBytes(file, "model_file", name));
    TempPath tmp("model");
    RECSYS_RETURN_IF_ERROR(WriteAll(tmp.path(), model_bytes));
    absl::StatusOr<std::unique_ptr<SequentialModel>> model = LoadModel(tmp.path());
    if (!model.ok()) return Annotate(model.status(), absl::StrCat(name, ": embedded model"));
    p.model = std::move(*model);
  }
  const int64_t n = p.model->num_items();
  if (file.Has("index_file")) {
    RECSYS_ASSIGN_OR_RETURN(std::string index_bytes, GetBytes(file, "index_file", name));
    TempPath tmp("index");
    RECSYS_RETURN_IF_ERROR(WriteAll(tmp.path(), index_bytes));
    absl::StatusOr<std::unique_ptr<AnnIndex>> index = AnnIndex::Load(tmp.path());
    if (!index.ok()) return Annotate(index.status(), absl::StrCat(name, ": embedded ANN index"));
    p.index = std::move(*index);
  }
  if (file.Has("popularity")) {
    auto pop = file.Get<float>("popularity", std::vector<int64_t>{n});
    if (!pop.ok()) return absl::DataLossError(absl::StrCat(name, ": ", pop.status().message()));
    p.popularity = std::move(*pop);
  }
  if (file.Has("categories")) {
    auto cat = file.Get<int32_t>("categories", std::vector<int64_t>{n});
    if (!cat.ok()) return absl::DataLossError(absl::StrCat(name, ": ", cat.status().message()));
    p.categories = std::move(*cat);
  }
  return p;
}

absl::StatusOr<Pipeline> LoadPipeline(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such pipeline file"));
  }
  RECSYS_ASSIGN_OR_RETURN(std::string bytes, ReadAll(path));
  return ParsePipeline(bytes, path);
}

}  // namespace recsys
