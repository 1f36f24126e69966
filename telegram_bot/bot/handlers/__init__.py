"""One module per flow, each exposing `HANDLERS`. A new flow is a module here, a callback
prefix in ``notifications.callbacks``, an entry in `keyboards.MAIN_MENU` and its place in
`application.FLOWS` (before `fallback`)."""
