// Untested here (no Unreal): see the plugin README.
#include "DinofGenerateAsyncAction.h"

#include "DinofModule.h"
#include "Engine/Texture2D.h"

UDinofGenerateAsyncAction* UDinofGenerateAsyncAction::DinofGenerate(UObject* WorldContextObject, UDinofModel* Model, int64 Seed, int32 Steps,
                                                                     const FString& ClassName, float Guidance, EDinofStart Start, float TM)
{
    UDinofGenerateAsyncAction* Action = NewObject<UDinofGenerateAsyncAction>();
    Action->Model = Model;
    Action->Seed = Seed;
    Action->Steps = Steps;
    Action->ClassName = ClassName;
    Action->Guidance = Guidance;
    Action->Start = Start;
    Action->TM = TM;
    Action->RegisterWithGameInstance(WorldContextObject);
    return Action;
}

void UDinofGenerateAsyncAction::Activate()
{
    dinof::core::Error Error;
    if (Model == nullptr || !Model->Get())
    {
        Error = dinof::core::Error::From(DINOF_STATUS_NULL_POINTER, "no model");
    }
    else
    {
        dinof::SampleOptions Options(1);
        if (Seed >= 0) Options.with_seed(static_cast<uint64_t>(Seed));
        Options.steps = static_cast<uint32_t>(FMath::Max(0, Steps));
        if (Guidance != 0.f) Options.with_guidance(Guidance);
        Options.with_start(static_cast<dinof_start>(Start), FMath::Max(0.f, TM));  // EDinofStart follows DINOF_START_*
        int64_t Label = 0;
        // No class for a conditional bundle is refused by Start, with the library's message.
        if (!ClassName.IsEmpty()) Error = dinof::core::LabelIndex(Model->Get(), TCHAR_TO_UTF8(*ClassName), Label);
        if (!Error)
        {
            if (!ClassName.IsEmpty()) Options.with_labels({Label});
            Generation = MakeUnique<dinof::core::Generation>(Model->Get(), Options);
            Error = Generation->Start();  // returns at once; the job runs on its own thread
        }
    }
    if (Error)
    {
        Failed.Broadcast(UTF8_TO_TCHAR(Error.message.c_str()), ToDinofError(Error.kind));
        Finish();
        return;
    }
    TickHandle = FTSTicker::GetCoreTicker().AddTicker(FTickerDelegate::CreateUObject(this, &UDinofGenerateAsyncAction::Tick));
}

bool UDinofGenerateAsyncAction::Tick(float)
{
    const dinof::core::Snapshot Snap = Generation->Poll();
    Progress.Broadcast(static_cast<float>(Snap.fraction));
    if (!Snap.done) return true;
    if (Snap.error)
    {
        Failed.Broadcast(UTF8_TO_TCHAR(Snap.error.message.c_str()), ToDinofError(Snap.error.kind));
    }
    else
    {
        // BGRA8, first row = top: what PF_B8G8R8A8 mip data wants, no flip.
        const std::vector<uint8_t> Pixels = Generation->Bgra8Image(0);
        const int32 W = static_cast<int32>(Generation->Width()), H = static_cast<int32>(Generation->Height());
        UTexture2D* Texture = UTexture2D::CreateTransient(W, H, PF_B8G8R8A8);
        Texture->Filter = TF_Nearest;
        FTexture2DMipMap& Mip = Texture->GetPlatformData()->Mips[0];
        FMemory::Memcpy(Mip.BulkData.Lock(LOCK_READ_WRITE), Pixels.data(), Pixels.size());
        Mip.BulkData.Unlock();
        Texture->UpdateResource();
        Completed.Broadcast(Texture, static_cast<int64>(Generation->Report().seed));
    }
    Finish();
    return false;
}

void UDinofGenerateAsyncAction::Cancel()
{
    if (Generation) Generation->Cancel();
}

void UDinofGenerateAsyncAction::Finish()
{
    if (TickHandle.IsValid()) FTSTicker::GetCoreTicker().RemoveTicker(TickHandle);
    TickHandle.Reset();
    Generation.Reset();  // returns at once, also for a running job
    SetReadyToDestroy();
}

void UDinofGenerateAsyncAction::BeginDestroy()
{
    if (TickHandle.IsValid()) FTSTicker::GetCoreTicker().RemoveTicker(TickHandle);
    Generation.Reset();
    Super::BeginDestroy();
}
