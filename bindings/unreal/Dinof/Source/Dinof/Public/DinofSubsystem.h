// Loads and caches dinof models for the game instance (one load per bundle directory). Untested here (no Unreal).
#pragma once

#include "CoreMinimal.h"
#include "Subsystems/GameInstanceSubsystem.h"
#include "DinofModel.h"
#include "DinofSubsystem.generated.h"

UCLASS()
class DINOF_API UDinofSubsystem : public UGameInstanceSubsystem
{
    GENERATED_BODY()

public:
    /** The model of a bundle directory (absolute, or relative to the project's Content folder), loaded once. */
    UFUNCTION(BlueprintCallable, Category = "dinof")
    UDinofModel* LoadModel(const FString& BundleDir, FString& Error, EDinofError& Kind);

    virtual void Deinitialize() override;

private:
    UPROPERTY()
    TMap<FString, TObjectPtr<UDinofModel>> Models;
};
