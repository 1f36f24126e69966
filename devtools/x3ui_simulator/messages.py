"""The panel's answer texts (English, and a few in Russian to show that nothing may branch
on translated text)."""

from __future__ import annotations

from typing import Final

MSG_WRONG: Final = "Something went wrong"
MSG_OBTAIN: Final = "Obtain"
MSG_TRAFFIC: Final = "Error getting traffics."
# v2.8.3 translate.en_US.toml:110 and v3.0.2 en-US.json:114 have a leading space; v3.1.0
# en-US.json:118 and later do not (PanelVersion.login_ok_msg).
MSG_LOGIN_OK: Final = "You have successfully logged into your account."
MSG_LOGIN_BAD: Final = "Invalid username or password or two-factor code."
MSG_BAD_FORM: Final = "The Input data format is invalid."
MSG_NO_USER: Final = "Username is required"
MSG_NO_PASS: Final = "Password is required"  # noqa: S105 - a message
MSG_ADDED: Final = "Inbound client(s) have been added."
MSG_UPDATED: Final = "Inbound client has been updated."
MSG_DELETED: Final = "Inbound client has been deleted."
MSG_EXPIRED: Final = "Your session has expired, please log in again"
# pages.inbounds.toasts.resetInboundClientTrafficSuccess (v2.8.3 translate.en_US.toml:289;
# v3.0.2 en-US.json:343, ru-RU.json:343; the same text up to v3.6.0)
MSG_TRAFFIC_RESET: Final = "Traffic has been reset."
# addClient/updateClient bind errors use this misleading key (v2.8.3 web/controller/
# inbound.go:202-205; v3.0.2 :334-339)
MSG_INBOUND_UPDATED: Final = "Inbound has been successfully updated."
# A few strings in Russian, so tests can check that nothing branches on translated text.
# As on a real panel only the context is translated; the Go error in brackets stays English.
RU: Final = {
    MSG_WRONG: "Что-то пошло не так",
    MSG_OBTAIN: "Получение",
    MSG_TRAFFIC: "Ошибка получения трафика.",
    MSG_LOGIN_OK: "Вы успешно вошли в аккаунт.",
    " " + MSG_LOGIN_OK: " Вы успешно вошли в аккаунт.",
    MSG_LOGIN_BAD: "Неверное имя пользователя, пароль или код двухфакторной аутентификации.",
    MSG_ADDED: "Клиент(ы) добавлен(ы).",
    MSG_UPDATED: "Клиент обновлён.",
    MSG_DELETED: "Клиент удалён.",
    MSG_EXPIRED: "Ваша сессия истекла, войдите снова",
    MSG_TRAFFIC_RESET: "Трафик сброшен",
}
