// A loaded dinof model as a UObject (Blueprint-visible), owning a shared dinof::core::ModelPtr. Untested here (no
// Unreal); the loading and error mapping it calls are DinofCore.h, tested with g++.
#pragma once

#include "CoreMinimal.h"
#include "UObject/Object.h"
#include "DinofCore.h"
#include "DinofModel.generated.h"

UENUM(BlueprintType)
enum class EDinofError : uint8
{
    None,
    Cancelled,
    BadRequest,
    BadBundle,
    Unavailable,
    OutOfMemory,
    Runtime,
    Usage,
    Bug,
};

/** Where the reverse process starts; the order of DINOF_START_*. Gaussian: the fitted Gaussian of x(T_m) in the
 * flow's place, the baseline that shows what the flow adds (bundles with Gaussians: GetStartTMs(Gaussian)). */
UENUM(BlueprintType)
enum class EDinofStart : uint8
{
    Default UMETA(DisplayName = "Default (the bundle's)"),
    Flow UMETA(DisplayName = "Flow (DiNof)"),
    Prior UMETA(DisplayName = "Prior (plain diffusion)"),
    Gaussian UMETA(DisplayName = "Gaussian at T_m"),
};
static_assert(DINOF_START_DEFAULT == 0 && DINOF_START_FLOW == 1 && DINOF_START_PRIOR == 2 && DINOF_START_GAUSSIAN == 3,
              "EDinofStart follows DINOF_START_*");

inline EDinofError ToDinofError(dinof::core::ErrorKind Kind)
{
    return static_cast<EDinofError>(static_cast<uint8>(Kind));  // same order as dinof::core::ErrorKind
}

UCLASS(BlueprintType)
class DINOF_API UDinofModel : public UObject
{
    GENERATED_BODY()

public:
    /** Loads a bundle directory with the project's dinof settings; null with Error set on failure. */
    static UDinofModel* Load(UObject* Outer, const FString& BundleDir, FString& Error, EDinofError& Kind);

    UFUNCTION(BlueprintPure, Category = "dinof")
    FString GetBundleName() const;

    UFUNCTION(BlueprintPure, Category = "dinof")
    int32 GetWidth() const;

    UFUNCTION(BlueprintPure, Category = "dinof")
    int32 GetHeight() const;

    /** The T_m values Start can take (Flow: the flows', Gaussian: the Gaussians'), ascending; empty otherwise. */
    UFUNCTION(BlueprintPure, Category = "dinof")
    TArray<float> GetStartTMs(EDinofStart Start) const;

    const dinof::core::ModelPtr& Get() const { return Model; }

private:
    dinof::core::ModelPtr Model;
    dinof::ModelInfo Info;
};
