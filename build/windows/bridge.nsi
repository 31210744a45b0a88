; NSIS 3 installer for Bridge on Windows 10 (1903) and later, x64: the PyInstaller
; one-folder bundle (dist\windows\bridge, from bridge.spec) for the current user, without
; admin rights. Built on Linux by build/windows/ci.sh:
;
;   makensis -INPUTCHARSET UTF8 -DVERSION=0.1.0 -DDIST=<dist/windows/bridge> \
;            -DOUTFILE=<Bridge-Setup-0.1.0.exe> [-DICON=<bridge.ico>] build/windows/bridge.nsi
;
; What it does (build/windows/README.md has the merchant's view):
; - installs to %LOCALAPPDATA%\Programs\Bridge; Start-menu entry "Bridge"; an entry in
;   "Apps & features" (HKCU ...\Uninstall\Bridge) with its uninstaller;
; - optional "Start Bridge when I log in": HKCU\...\Run, value "Bridge" = "<dir>\bridge.exe",
;   the same value the app's settings checkbox and `bridge-cli autostart` write
;   (bridge/autostart.py), so the checkbox shows what the installer did. Ticked on a first
;   install; on an upgrade it keeps what the merchant chose since;
; - a running Bridge is asked to stop first (`bridge-cli stop`: the engine ends cleanly,
;   nothing is half-sent), then anything left is ended, before files are replaced or removed;
; - the uninstaller removes the program, its shortcuts, the Run value and its own entry. It
;   keeps the merchant's data (%LOCALAPPDATA%\VentasxMayor\bridge: config, state, logs) and
;   the tokens in the Credential Manager, so a reinstall picks up where it left, unless
;   "Remove my data too" is ticked (silent: /PURGE).
;
; Silent use (CI, IT departments):
;   Bridge-Setup-<v>.exe /S [/AUTOSTART=0|1] [/DESKTOP=1] [/D=<dir>]   (/D last, no quotes)
;   "<dir>\uninstall.exe" /S [/PURGE]

; a 64-bit installer: Bridge is 64-bit only, and a 32-bit one would not run under a 64-bit-only
; Wine (CI)
Target amd64-unicode
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma
; a file that cannot be written (still in use) fails the install instead of being skipped:
; a half-replaced program would not start
AllowSkipFiles off

!ifndef VERSION
  !error "VERSION is not defined (makensis -DVERSION=x.y.z)"
!endif
!ifndef DIST
  !error "DIST is not defined: the dist\windows\bridge folder to install"
!endif
!ifndef OUTFILE
  !define OUTFILE "Bridge-Setup-${VERSION}.exe"
!endif

!define APP "Bridge"
!define PUBLISHER "VentasxMayor"
!define EXE "bridge.exe"
!define CLI "bridge-cli.exe"
!define UNINSTALLER "uninstall.exe"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Bridge"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "Bridge"
; platformdirs.user_data_dir("bridge", "VentasxMayor") on Windows (bridge/config.py)
!define DATA_PARENT "$LOCALAPPDATA\VentasxMayor"
!define DATA_DIR "${DATA_PARENT}\bridge"

Name "${APP}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\Bridge"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=0 "ProductName" "${APP}"
VIAddVersionKey /LANG=0 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=0 "FileDescription" "${APP} ${VERSION} setup"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "LegalCopyright" "${PUBLISHER}"

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"
!include "x64.nsh"
!include "WinVer.nsh"

!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_NODESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "$(LaunchNow)"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

; the first language is the one for a Windows in any language but these two
!insertmacro MUI_LANGUAGE "Spanish"
!insertmacro MUI_LANGUAGE "English"

LangString SecProgram ${LANG_SPANISH} "Bridge (programa)"
LangString SecProgram ${LANG_ENGLISH} "Bridge (program)"
LangString SecAutostart ${LANG_SPANISH} "Iniciar Bridge al iniciar sesión"
LangString SecAutostart ${LANG_ENGLISH} "Start Bridge when I log in"
LangString SecDesktop ${LANG_SPANISH} "Acceso directo en el escritorio"
LangString SecDesktop ${LANG_ENGLISH} "Desktop shortcut"
LangString LaunchNow ${LANG_SPANISH} "Abrir Bridge ahora"
LangString LaunchNow ${LANG_ENGLISH} "Open Bridge now"
LangString SecKeep ${LANG_SPANISH} "Quitar el programa"
LangString SecKeep ${LANG_ENGLISH} "Remove the program"
LangString SecPurge ${LANG_SPANISH} "Borrar también mis datos (configuración, pedidos, registros y claves guardadas)"
LangString SecPurge ${LANG_ENGLISH} "Remove my data too (settings, orders, logs and saved passwords)"
LangString Needs64 ${LANG_SPANISH} "Bridge necesita Windows 10 (versión 1903 o posterior) de 64 bits."
LangString Needs64 ${LANG_ENGLISH} "Bridge needs 64-bit Windows 10 (version 1903 or later)."
LangString CopyFailed ${LANG_SPANISH} "No se pudieron copiar todos los archivos de Bridge (¿sigue abierto?). Cierre Bridge y vuelva a ejecutar el instalador."
LangString CopyFailed ${LANG_ENGLISH} "Not all of Bridge's files could be copied (is it still open?). Close Bridge and run the installer again."
LangString Stopping ${LANG_SPANISH} "Deteniendo Bridge..."
LangString Stopping ${LANG_ENGLISH} "Stopping Bridge..."

Var Upgrade

; Ask a running Bridge to stop cleanly (`bridge-cli stop` returns once the engine has ended
; or recorded what it was doing and the process is gone), then end whatever is left - a
; Bridge started with another profile (--data-dir) or one that does not answer: files in use
; cannot be replaced.
!macro StopBridge UN
Function ${UN}StopBridge
  DetailPrint "$(Stopping)"
  ${If} ${FileExists} "$INSTDIR\${CLI}"
    nsExec::ExecToLog '"$INSTDIR\${CLI}" stop'
    Pop $0
  ${EndIf}
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /T /IM ${EXE}'
  Pop $0
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /T /IM ${CLI}'
  Pop $0
  Sleep 500
FunctionEnd
!macroend
!insertmacro StopBridge ""
!insertmacro StopBridge "un."

Section "$(SecProgram)" SecProgramId
  SectionIn RO
  SetShellVarContext current
  Call StopBridge
  SetOutPath "$INSTDIR"
  ; an upgrade must not keep libraries the new version no longer ships
  RMDir /r "$INSTDIR\_internal"
  ClearErrors
  File /r "${DIST}\*.*"
  ${If} ${Errors}
    SetErrorLevel 2
    MessageBox MB_ICONSTOP|MB_OK "$(CopyFailed)" /SD IDOK
    Abort "$(CopyFailed)"
  ${EndIf}
  WriteUninstaller "$INSTDIR\${UNINSTALLER}"
  CreateShortCut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0 \
    SW_SHOWNORMAL "" "${APP}"

  ; "Apps & features"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0
SectionEnd

Section "$(SecAutostart)" SecAutostartId
  WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\${EXE}"'
SectionEnd

Section /o "$(SecDesktop)" SecDesktopId
  SetShellVarContext current
  CreateShortCut "$DESKTOP\${APP}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0
SectionEnd

; what is not ticked is not there: an unticked autostart or desktop shortcut is removed
Section "-cleanup"
  SetShellVarContext current
  ${IfNot} ${SectionIsSelected} ${SecAutostartId}
    DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  ${EndIf}
  ${IfNot} ${SectionIsSelected} ${SecDesktopId}
    Delete "$DESKTOP\${APP}.lnk"
  ${EndIf}
SectionEnd

; sections first: the functions below name them
Function .onInit
  ; Windows 10 1903 (build 18362): the first with icuuc.dll (Qt) and
  ; bcryptprimitives.dll!ProcessPrng (the Rust-built libraries)
  ${IfNot} ${RunningX64}
  ${OrIfNot} ${AtLeastWin10}
  ${OrIfNot} ${AtLeastBuild} 18362
    MessageBox MB_ICONSTOP|MB_OK "$(Needs64)" /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  ; an upgrade keeps the merchant's choices: autostart ticked only if the value is there,
  ; the desktop shortcut ticked if there is one
  ReadRegStr $Upgrade HKCU "${UNINST_KEY}" "InstallLocation"
  ${If} $Upgrade != ""
    ReadRegStr $0 HKCU "${RUN_KEY}" "${RUN_VALUE}"
    ${If} $0 == ""
      !insertmacro UnselectSection ${SecAutostartId}
    ${EndIf}
    SetShellVarContext current
    ${If} ${FileExists} "$DESKTOP\${APP}.lnk"
      !insertmacro SelectSection ${SecDesktopId}
    ${EndIf}
  ${EndIf}
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/AUTOSTART=" $R1
  ${IfNot} ${Errors}
    ${If} $R1 == "0"
      !insertmacro UnselectSection ${SecAutostartId}
    ${Else}
      !insertmacro SelectSection ${SecAutostartId}
    ${EndIf}
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/DESKTOP=" $R1
  ${IfNot} ${Errors}
  ${AndIf} $R1 == "1"
    !insertmacro SelectSection ${SecDesktopId}
  ${EndIf}
FunctionEnd

; ---------------------------------------------------------------------------------------

Section "un.$(SecKeep)" UnSecProgramId
  SectionIn RO
  SetShellVarContext current
  Call un.StopBridge
SectionEnd

; before the program goes: the tokens are deleted by the program itself (Credential Manager)
Section /o "un.$(SecPurge)" UnSecPurgeId
  ${If} ${FileExists} "$INSTDIR\${CLI}"
    nsExec::ExecToLog '"$INSTDIR\${CLI}" secrets delete --all'
    Pop $0
  ${EndIf}
  RMDir /r "${DATA_DIR}"
  ; the publisher's folder, only if nothing else of it is there
  RMDir "${DATA_PARENT}"
SectionEnd

Section "-un.files"
  SetShellVarContext current
  ; only what the installer put there: never a recursive delete of $INSTDIR itself, which
  ; the merchant may have pointed at a folder holding other things
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\${CLI}"
  Delete "$INSTDIR\${UNINSTALLER}"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${APP}.lnk"
  Delete "$DESKTOP\${APP}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  DeleteRegKey HKCU "${UNINST_KEY}"
SectionEnd

Function un.onInit
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${UnSecPurgeId}
  ${EndIf}
FunctionEnd
