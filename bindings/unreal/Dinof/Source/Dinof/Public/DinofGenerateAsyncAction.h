// Blueprint node "Dinof Generate": samples on the library's worker thread into a UTexture2D, reporting progress every
// frame, with Cancel. The polling and BGRA8 conversion are dinof::core::Generation (DinofCore.h, tested with g++);
// this file only adapts them to Unreal and is untested here (no Unreal).
#pragma once

#include "CoreMinimal.h"
#include "Containers/Ticker.h"
#include "Kismet/BlueprintAsyncActionBase.h"
#include "DinofCore.h"
#include "DinofModel.h"
#include "DinofGenerateAsyncAction.generated.h"

class UTexture2D;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FDinofProgressPin, float, Progress);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FDinofCompletedPin, UTexture2D*, Texture, int64, Seed);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FDinofFailedPin, const FString&, Error, EDinofError, Kind);

UCLASS()
class DINOF_API UDinofGenerateAsyncAction : public UBlueprintAsyncActionBase
{
    GENERATED_BODY()

public:
    /**
     * Generates one image. Seed < 0 draws a random one (reported by Completed); Steps 0 = the bundle's default.
     * ClassName: for a class-conditional bundle, the class to draw by name ("Sneaker", ignoring case) or index ("7");
     * required there, empty for an unconditional bundle (a mistake fires Failed with the library's message, which
     * lists the valid names). Guidance: classifier-free guidance scale; 0 = the bundle's default, < 0 = none.
     * Start: where the reverse process starts (Default = the bundle's; Gaussian = the fitted Gaussian at T_m, to see
     * what the flow adds); TM: which flow or Gaussian, by its T_m (UDinofModel::GetStartTMs), 0 = the default. A T_m
     * the bundle lacks fires Failed with a message listing the available ones.
     */
    UFUNCTION(BlueprintCallable, Category = "dinof", meta = (BlueprintInternalUseOnly = "true", WorldContext = "WorldContextObject"))
    static UDinofGenerateAsyncAction* DinofGenerate(UObject* WorldContextObject, UDinofModel* Model, int64 Seed = -1, int32 Steps = 0,
                                                    const FString& ClassName = TEXT(""), float Guidance = 0.f,
                                                    EDinofStart Start = EDinofStart::Default, float TM = 0.f);

    /** Cancels the generation; Failed fires with Kind = Cancelled. */
    UFUNCTION(BlueprintCallable, Category = "dinof")
    void Cancel();

    UPROPERTY(BlueprintAssignable)
    FDinofProgressPin Progress;

    UPROPERTY(BlueprintAssignable)
    FDinofCompletedPin Completed;

    UPROPERTY(BlueprintAssignable)
    FDinofFailedPin Failed;

    virtual void Activate() override;
    virtual void BeginDestroy() override;

private:
    bool Tick(float DeltaSeconds);
    void Finish();

    UPROPERTY()
    TObjectPtr<UDinofModel> Model;
    int64 Seed = -1;
    int32 Steps = 0;
    FString ClassName;
    float Guidance = 0.f;
    EDinofStart Start = EDinofStart::Default;
    float TM = 0.f;
    TUniquePtr<dinof::core::Generation> Generation;
    FTSTicker::FDelegateHandle TickHandle;
};
