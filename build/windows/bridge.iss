; Inno Setup 6 script for Bridge on Windows: installs the PyInstaller one-folder bundle
; (dist\bridge, built on Windows with bridge.spec) for the current user, without admin
; rights, with a Start-menu entry and an optional "Start Bridge when I log in" task.
;
;   iscc /DAppVersion=0.1.0 build\windows\bridge.iss     -> dist\installer\Bridge-0.1.0-setup.exe
;
; The autostart value is the same one the app's settings checkbox and `bridge-cli autostart`
; write (bridge/autostart.py: HKCU\...\Run, value "Bridge"), so the checkbox shows what the
; installer did; the uninstaller removes it however it was set.
; See build/windows/README.md. Not verified by a real build yet: see build/README.md.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Bridge"
#define AppPublisher "VentasxMayor"
#define AppExe "bridge.exe"

[Setup]
; a fixed AppId: upgrades replace the installed version instead of adding a second one
AppId={{6F1C2B7E-3A9D-4E52-9B0C-8D7A41F2C3B5}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher={#AppPublisher}
AppVerName={#AppName} {#AppVersion}
; per user, no UAC prompt: %LOCALAPPDATA%\Programs\Bridge
PrivilegesRequired=lowest
DefaultDirName={localappdata}\Programs\Bridge
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
OutputDir=..\..\dist\installer
OutputBaseFilename=Bridge-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Bridge may be running (tray): ask to close it before files are replaced
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "es"; MessagesFile: "compiler:Languages\Spanish.isl"
Name: "en"; MessagesFile: "compiler:Default.isl"

[CustomMessages]
es.AutostartTask=Iniciar Bridge al iniciar sesión
en.AutostartTask=Start Bridge when I log in
es.DesktopIconTask=Crear un acceso directo en el escritorio
en.DesktopIconTask=Create a desktop shortcut
es.LaunchNow=Abrir Bridge ahora
en.LaunchNow=Open Bridge now

[Tasks]
Name: "autostart"; Description: "{cm:AutostartTask}"; Flags: checkedonce
Name: "desktopicon"; Description: "{cm:DesktopIconTask}"; Flags: unchecked

[Files]
; the whole one-folder bundle: bridge.exe, bridge-cli.exe and _internal\
Source: "..\..\dist\bridge\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; an upgrade must not keep libraries the new version no longer ships
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{userdesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Registry]
; written only with the task (an upgrade with the task unticked leaves a value the app's
; checkbox may have written); removed by the uninstaller, and by [Code] below if the app's
; own checkbox wrote it
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "Bridge"; ValueData: """{app}\{#AppExe}"""; Flags: uninsdeletevalue; Tasks: autostart

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchNow}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; stop a running Bridge before its files go (the tray app holds them open)
Filename: "{sys}\taskkill.exe"; Parameters: "/IM {#AppExe} /F"; Flags: runhidden; RunOnceId: "StopBridge"

[Code]
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usUninstall then
    RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run', 'Bridge');
end;
