// Untested here (no Unreal): see the plugin README.
#include "DinofModel.h"

#include "DinofModule.h"
#include "DinofSettings.h"
#include "Misc/Paths.h"

UDinofModel* UDinofModel::Load(UObject* Outer, const FString& BundleDir, FString& Error, EDinofError& Kind)
{
    if (!FDinofModule::IsLibraryAvailable())
    {
        Error = TEXT("the dinof library is not loaded (see the LogDinof lines at startup)");
        Kind = EDinofError::Unavailable;
        return nullptr;
    }
    const UDinofSettings* Settings = GetDefault<UDinofSettings>();
    dinof::core::LoadSettings S;
    S.backend = static_cast<dinof_backend>(Settings->Backend);  // EDinofBackend follows DINOF_BACKEND_* order
    S.execution_provider = static_cast<dinof_execution_provider>(Settings->ExecutionProvider);
    S.threads = static_cast<uint32_t>(FMath::Max(0, Settings->Threads));
    S.allow_fallback = Settings->bAllowFallback;
    S.ort_library_path = TCHAR_TO_UTF8(*Settings->OrtLibraryPath);

    dinof::core::ModelPtr Model;
    const dinof::core::Error E = dinof::core::LoadModel(TCHAR_TO_UTF8(*FPaths::ConvertRelativePathToFull(BundleDir)), S, Model);
    if (E)
    {
        Error = UTF8_TO_TCHAR(E.message.c_str());
        Kind = ToDinofError(E.kind);
        UE_LOG(LogDinof, Warning, TEXT("dinof: cannot load %s: %s"), *BundleDir, *Error);
        return nullptr;
    }
    UDinofModel* Result = NewObject<UDinofModel>(Outer);
    Result->Model = Model;
    Result->Info = Model->info();  // no throw: info() of a loaded model only fails on a dinof bug
    Kind = EDinofError::None;
    return Result;
}

FString UDinofModel::GetBundleName() const { return UTF8_TO_TCHAR(Info.name.c_str()); }
int32 UDinofModel::GetWidth() const { return static_cast<int32>(Info.width); }
int32 UDinofModel::GetHeight() const { return static_cast<int32>(Info.height); }

TArray<float> UDinofModel::GetStartTMs(EDinofStart Start) const
{
    TArray<float> Result;
    for (const double T : dinof::core::StartTMs(Info, static_cast<dinof_start>(Start))) Result.Add(static_cast<float>(T));
    return Result;
}
