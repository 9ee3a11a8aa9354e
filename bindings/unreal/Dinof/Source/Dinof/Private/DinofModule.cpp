// Untested here (no Unreal): see the plugin README.
#include "DinofModule.h"

#include "HAL/PlatformProcess.h"
#include "Interfaces/IPluginManager.h"
#include "Misc/Paths.h"
#include "dinof.h"

DEFINE_LOG_CATEGORY(LogDinof);

static bool GDinofAvailable = false;

void FDinofModule::StartupModule()
{
    const FString Dir = FPaths::Combine(IPluginManager::Get().FindPlugin(TEXT("Dinof"))->GetBaseDir(),
        TEXT("Binaries/ThirdParty/DinofLibrary"), FPlatformProcess::GetBinariesSubdirectory());
    const FString Path = FPaths::Combine(Dir, DINOF_LIBRARY_FILE);
    if (!FPaths::FileExists(Path))
    {
        UE_LOG(LogDinof, Error, TEXT("dinof: native library not found at %s. Build it and copy it there with "
            "scripts/package-unreal.sh from the dinof repository; dinof nodes will fail until then."), *Path);
        return;
    }
    LibraryHandle = FPlatformProcess::GetDllHandle(*Path);
    if (LibraryHandle == nullptr)
    {
        UE_LOG(LogDinof, Error, TEXT("dinof: could not load %s (wrong architecture, or a dependency is missing)."), *Path);
        return;
    }
    if (dinof_abi_version() != DINOF_ABI_VERSION)
    {
        UE_LOG(LogDinof, Error, TEXT("dinof: %s has ABI version %u, this plugin was built for %d: rebuild the plugin "
            "with the matching include/dinof.h."), *Path, dinof_abi_version(), DINOF_ABI_VERSION);
        return;
    }
    GDinofAvailable = true;
    UE_LOG(LogDinof, Log, TEXT("dinof %hs loaded from %s"), dinof_version_string(), *Path);
}

void FDinofModule::ShutdownModule()
{
    if (GDinofAvailable)
    {
        // Join detached jobs and freed models' worker threads before the library goes away (hot reload).
        const dinof_status Status = dinof_shutdown(5000);
        if (Status != DINOF_STATUS_OK)
        {
            UE_LOG(LogDinof, Warning, TEXT("dinof: shutdown returned %hs; not unloading the library."), dinof_status_string(Status));
            GDinofAvailable = false;
            return;
        }
    }
    GDinofAvailable = false;
    if (LibraryHandle != nullptr)
    {
        FPlatformProcess::FreeDllHandle(LibraryHandle);
        LibraryHandle = nullptr;
    }
}

bool FDinofModule::IsLibraryAvailable()
{
    return GDinofAvailable;
}

IMPLEMENT_MODULE(FDinofModule, Dinof)
