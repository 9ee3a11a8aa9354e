// DinofCore.h: the engine-independent part of the Unreal plugin, plain C++17 over bindings/cpp/dinof.hpp.
//
// No Unreal types here, so this file is compiled and tested with g++ against the real libdinof
// (tests/engines/test_unreal_core.cpp, run by scripts/test-engines.sh). The UE classes (UDinofModel,
// UDinofGenerateAsyncAction, ...) are thin shells around it.
//
// - Nothing here throws: Unreal game modules are usually built without C++ exceptions, so every dinof::Error is
//   caught at this boundary and becomes an Error {status, kind, message} (the module that includes this header
//   compiles with exceptions enabled; see Dinof.Build.cs).
// - Generation runs on the library's own job thread; the game thread polls it once per frame (Poll) and cancels it
//   at will. Destroying a Generation returns at once, also while it runs (EndPlay, BeginDestroy).
// - Unreal textures want BGRA8 (PF_B8G8R8A8), first row = top: the library's RGBA8 rows are already top-down, so
//   only the channels are swapped (ToBgra8), no row flip (unlike Unity).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dinof.hpp"

namespace dinof {
namespace core {

/// What a failure means for the game, from its dinof_status (so a UI can say "bad bundle" vs "out of memory").
enum class ErrorKind : uint8_t {
    None,         ///< DINOF_STATUS_OK
    Cancelled,    ///< cancelled by the caller
    BadRequest,   ///< options or arguments: invalid argument, bad enum value, struct size, null pointer, buffer size
    BadBundle,    ///< the model files: manifest, version, missing/foreign/irregular files, checksum, ONNX, network shapes
    Unavailable,  ///< the backend or execution provider cannot run here
    OutOfMemory,  ///< the request is too large for this machine; fewer images may work
    Runtime,      ///< failed while running: I/O, backend error, NaN/infinity
    Usage,        ///< called at the wrong time: not ready, timeout, busy, from a callback
    Bug,          ///< internal error or a caught panic in dinof: worth a bug report
};

inline ErrorKind KindOf(dinof_status s) {
    switch (s) {
        case DINOF_STATUS_OK: return ErrorKind::None;
        case DINOF_STATUS_CANCELLED: return ErrorKind::Cancelled;
        case DINOF_STATUS_INVALID_ARGUMENT:
        case DINOF_STATUS_BUFFER_TOO_SMALL:
        case DINOF_STATUS_NULL_POINTER:
        case DINOF_STATUS_STRUCT_SIZE:
        case DINOF_STATUS_BAD_ENUM_VALUE: return ErrorKind::BadRequest;
        case DINOF_STATUS_INVALID_MANIFEST:
        case DINOF_STATUS_UNSUPPORTED_VERSION:
        case DINOF_STATUS_MISSING_FILE:
        case DINOF_STATUS_CHECKSUM_MISMATCH:
        case DINOF_STATUS_INVALID_ONNX:
        case DINOF_STATUS_NETWORK_MISMATCH:
        case DINOF_STATUS_BAD_FILE_NAME:
        case DINOF_STATUS_FILE_OUTSIDE_BUNDLE:
        case DINOF_STATUS_NOT_A_REGULAR_FILE:
        case DINOF_STATUS_MANIFEST_TOO_LARGE: return ErrorKind::BadBundle;
        case DINOF_STATUS_BACKEND_UNAVAILABLE:
        case DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE: return ErrorKind::Unavailable;
        case DINOF_STATUS_OUT_OF_MEMORY: return ErrorKind::OutOfMemory;
        case DINOF_STATUS_IO:
        case DINOF_STATUS_BACKEND:
        case DINOF_STATUS_NON_FINITE: return ErrorKind::Runtime;
        case DINOF_STATUS_TIMEOUT:
        case DINOF_STATUS_NOT_READY:
        case DINOF_STATUS_CALLED_FROM_CALLBACK:
        case DINOF_STATUS_BUSY: return ErrorKind::Usage;
        default: return ErrorKind::Bug;  // INTERNAL, PANIC, and codes newer than this header
    }
}

inline const char* KindName(ErrorKind k) {
    switch (k) {
        case ErrorKind::None: return "none";
        case ErrorKind::Cancelled: return "cancelled";
        case ErrorKind::BadRequest: return "bad request";
        case ErrorKind::BadBundle: return "bad bundle";
        case ErrorKind::Unavailable: return "unavailable";
        case ErrorKind::OutOfMemory: return "out of memory";
        case ErrorKind::Runtime: return "runtime error";
        case ErrorKind::Usage: return "usage error";
        case ErrorKind::Bug: return "bug in dinof";
    }
    return "?";
}

/// A failure: the ABI status, what it means, and the library's message (empty status = success).
struct Error {
    dinof_status status = DINOF_STATUS_OK;
    ErrorKind kind = ErrorKind::None;
    std::string message;

    explicit operator bool() const noexcept { return status != DINOF_STATUS_OK; }
    static Error From(dinof_status s, std::string msg) { return Error{s, KindOf(s), std::move(msg)}; }
};

namespace detail {
/// Runs f, turning any exception into an Error (nothing escapes into engine code).
template <class F>
Error Guard(F&& f) noexcept {
    try {
        f();
        return Error{};
    } catch (const dinof::Error& e) {
        return Error::From(e.status(), e.what());
    } catch (const std::bad_alloc&) {
        return Error::From(DINOF_STATUS_OUT_OF_MEMORY, "out of memory in the engine layer");
    } catch (const std::exception& e) {
        return Error::From(DINOF_STATUS_INTERNAL, e.what());
    } catch (...) {
        return Error::From(DINOF_STATUS_INTERNAL, "unknown exception");
    }
}
}  // namespace detail

/// RGBA8 -> BGRA8 (what PF_B8G8R8A8 textures want): swaps R and B of `pixels` pixels. `dst` may equal `src`.
inline void ToBgra8(const uint8_t* src, uint8_t* dst, size_t pixels) noexcept {
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t r = src[4 * i], g = src[4 * i + 1], b = src[4 * i + 2], a = src[4 * i + 3];
        dst[4 * i] = b;
        dst[4 * i + 1] = g;
        dst[4 * i + 2] = r;
        dst[4 * i + 3] = a;
    }
}

/// Load settings in engine terms (UDinofSettings maps onto this).
struct LoadSettings {
    dinof_backend backend = DINOF_BACKEND_DEFAULT;
    dinof_execution_provider execution_provider = DINOF_EXECUTION_PROVIDER_DEFAULT;
    uint32_t threads = 0;  ///< 0 = one per core
    bool allow_fallback = true;
    std::string ort_library_path;  ///< empty = ORT_DYLIB_PATH, else next to the dinof library
};

/// A loaded model, shared by every generation that uses it (std::shared_ptr; the library also keeps the native
/// model alive while jobs run).
using ModelPtr = std::shared_ptr<const dinof::Model>;

/// Loads a bundle directory; on failure `model` stays empty and the Error says why.
inline Error LoadModel(const std::string& path, const LoadSettings& s, ModelPtr& model) noexcept {
    return detail::Guard([&] {
        dinof::LoadOptions o;
        o.backend = s.backend;
        o.execution_provider = s.execution_provider;
        o.threads = s.threads;
        o.allow_fallback = s.allow_fallback ? 1 : 0;
        o.ort_library_path = s.ort_library_path.empty() ? nullptr : s.ort_library_path.c_str();
        model = std::make_shared<const dinof::Model>(path, o);
    });
}

/// The label of a class given as text (one of info().label_names, ignoring case, or an index written in decimal),
/// for SampleOptions::with_labels. An unknown name is a BadRequest Error whose message lists the valid names;
/// `label` is left alone on failure. (Guidance needs nothing here: SampleOptions::with_guidance, Report().guidance.)
inline Error LabelIndex(const ModelPtr& model, const std::string& name, int64_t& label) noexcept {
    if (!model) return Error::From(DINOF_STATUS_NULL_POINTER, "no model");
    return detail::Guard([&] { label = model->label_index(name); });
}

/// The T_m values a start can take (SampleOptions::with_start): the flows' for DINOF_START_FLOW, the Gaussians'
/// for DINOF_START_GAUSSIAN (the fitted Gaussian of x(T_m), the baseline that shows what the flow adds), none for
/// the prior or the default. Ascending; empty when the bundle has no such start.
inline std::vector<double> StartTMs(const dinof::ModelInfo& info, dinof_start start) {
    if (start == DINOF_START_FLOW) return info.t_m;
    if (start == DINOF_START_GAUSSIAN) return info.gaussian_t_m;
    return {};
}

/// Where a generation is, for a progress bar.
struct Snapshot {
    bool done = false;       ///< ended (successfully or not)
    double fraction = 0.0;   ///< in [0, 1]
    dinof_phase phase = DINOF_PHASE_PENDING;
    Error error;             ///< set once done and failed (kind Cancelled after Cancel)
};

/// One background generation: Start, then Poll every frame, then Bgra8Image for each image. Not copyable;
/// destroying it returns at once (a running job is cancelled and detached by the library).
class Generation {
public:
    Generation(ModelPtr model, dinof::SampleOptions options) : model_(std::move(model)), options_(std::move(options)) {}
    Generation(const Generation&) = delete;
    Generation& operator=(const Generation&) = delete;

    /// Validates and starts; option and memory errors come back here.
    Error Start() noexcept {
        if (!model_) return Error::From(DINOF_STATUS_NULL_POINTER, "no model");
        return detail::Guard([&] {
            info_ = model_->info();
            job_.reset(new dinof::Job(model_->start(options_)));
        });
    }

    /// Cheap; call once per frame from the game thread.
    Snapshot Poll() noexcept {
        Snapshot s;
        if (!job_) {
            s.done = true;
            s.error = Error::From(DINOF_STATUS_NULL_POINTER, "the generation was not started");
            return s;
        }
        s.error = detail::Guard([&] {
            const dinof_progress p = job_->progress();
            s.fraction = p.fraction;
            s.phase = p.phase;
            s.done = job_->done();
            if (s.done) (void)job_->wait(std::chrono::milliseconds(0));  // throws the job's failure
        });
        if (s.error) s.done = true;
        if (s.done && !s.error && !fetched_) s.error = Fetch();
        return s;
    }

    /// Asks the job to stop (any thread); Poll then reports kind Cancelled.
    void Cancel() noexcept {
        if (job_) (void)detail::Guard([&] { job_->cancel(); });
    }

    /// Number of images, and their size.
    size_t Count() const noexcept { return static_cast<size_t>(options_.n); }
    uint32_t Width() const noexcept { return info_.width; }
    uint32_t Height() const noexcept { return info_.height; }

    /// Image `index` as BGRA8, Width x Height x 4 bytes, first row = top; empty until Poll reported success.
    std::vector<uint8_t> Bgra8Image(size_t index) const {
        const size_t size = static_cast<size_t>(info_.width) * info_.height * 4;
        if (!fetched_ || index >= Count()) return {};
        std::vector<uint8_t> out(size);
        ToBgra8(rgba_.data() + index * size, out.data(), size / 4);
        return out;
    }

    /// The run's report (seed to reproduce it, steps, time); valid after success.
    const dinof_sample_report& Report() const noexcept { return report_; }

private:
    Error Fetch() noexcept {
        Error e = detail::Guard([&] {
            rgba_ = job_->result_rgba8();
            report_ = job_->report();
        });
        fetched_ = !e;
        return e;
    }

    ModelPtr model_;
    dinof::SampleOptions options_;
    dinof::ModelInfo info_;
    std::unique_ptr<dinof::Job> job_;
    std::vector<uint8_t> rgba_;
    dinof_sample_report report_{};
    bool fetched_ = false;
};

}  // namespace core
}  // namespace dinof
