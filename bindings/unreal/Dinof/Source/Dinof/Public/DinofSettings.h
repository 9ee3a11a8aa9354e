// Project Settings > Plugins > dinof: how models are loaded. Untested here (no Unreal).
#pragma once

#include "CoreMinimal.h"
#include "Engine/DeveloperSettings.h"
#include "DinofSettings.generated.h"

UENUM(BlueprintType)
enum class EDinofBackend : uint8
{
    Default UMETA(DisplayName = "Default (tract)"),
    Tract UMETA(DisplayName = "tract (CPU, no dependency)"),
    OnnxRuntime UMETA(DisplayName = "ONNX Runtime"),
};

UENUM(BlueprintType)
enum class EDinofExecutionProvider : uint8
{
    Default UMETA(DisplayName = "Default (CPU)"),
    Cpu UMETA(DisplayName = "CPU"),
    Cuda UMETA(DisplayName = "CUDA"),
    TensorRT UMETA(DisplayName = "TensorRT"),
};

UCLASS(config = Game, defaultconfig, meta = (DisplayName = "dinof"))
class DINOF_API UDinofSettings : public UDeveloperSettings
{
    GENERATED_BODY()

public:
    /** Which backend runs the networks. ONNX Runtime needs a dinof build with the ort feature and libonnxruntime. */
    UPROPERTY(config, EditAnywhere, Category = "Loading")
    EDinofBackend Backend = EDinofBackend::Default;

    /** ONNX Runtime only. */
    UPROPERTY(config, EditAnywhere, Category = "Loading")
    EDinofExecutionProvider ExecutionProvider = EDinofExecutionProvider::Default;

    /** ONNX Runtime only: run on the CPU when the execution provider is unavailable (reported in the log). */
    UPROPERTY(config, EditAnywhere, Category = "Loading")
    bool bAllowFallback = true;

    /** Worker threads per model; 0 = one per core. Leave cores for the game thread and the renderer. */
    UPROPERTY(config, EditAnywhere, Category = "Loading", meta = (ClampMin = "0", ClampMax = "4096"))
    int32 Threads = 0;

    /** ONNX Runtime only: path of libonnxruntime; empty = ORT_DYLIB_PATH, else next to the dinof library. */
    UPROPERTY(config, EditAnywhere, Category = "Loading")
    FString OrtLibraryPath;
};
