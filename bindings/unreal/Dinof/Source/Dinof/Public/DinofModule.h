// Loads the dinof library from the plugin's Binaries folder at startup, with a clear log line when it is missing or
// of another ABI version; joins dinof's threads and unloads it at shutdown. Untested here (no Unreal).
#pragma once

#include "Modules/ModuleManager.h"

DECLARE_LOG_CATEGORY_EXTERN(LogDinof, Log, All);

class DINOF_API FDinofModule : public IModuleInterface
{
public:
    virtual void StartupModule() override;
    virtual void ShutdownModule() override;

    /// True when the native library is loaded and speaks this plugin's ABI; nothing else may call dinof otherwise.
    static bool IsLibraryAvailable();

private:
    void* LibraryHandle = nullptr;
};
