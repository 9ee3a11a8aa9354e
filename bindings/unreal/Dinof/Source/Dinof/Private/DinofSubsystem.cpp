// Untested here (no Unreal): see the plugin README.
#include "DinofSubsystem.h"

#include "Misc/Paths.h"

UDinofModel* UDinofSubsystem::LoadModel(const FString& BundleDir, FString& Error, EDinofError& Kind)
{
    const FString Dir = FPaths::IsRelative(BundleDir) ? FPaths::Combine(FPaths::ProjectContentDir(), BundleDir) : BundleDir;
    if (TObjectPtr<UDinofModel>* Found = Models.Find(Dir))
    {
        Kind = EDinofError::None;
        return *Found;
    }
    UDinofModel* Model = UDinofModel::Load(this, Dir, Error, Kind);
    if (Model != nullptr) Models.Add(Dir, Model);
    return Model;
}

void UDinofSubsystem::Deinitialize()
{
    // The models go with the garbage collector; generations hold their own reference (shared_ptr), and the library
    // keeps a model alive while its jobs run.
    Models.Empty();
    Super::Deinitialize();
}
