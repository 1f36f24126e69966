"""One module per flow. Each exposes `HANDLERS`, registered in order by `build_application`.

Handlers are thin: parse the update, call services (through `call_service`), render texts
and keyboards. A new flow is a new module here, a callback prefix in `keyboards`, its entry
in `keyboards.MAIN_MENU`, and its place in `application.FLOWS` (before `fallback`).
"""
