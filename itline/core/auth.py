"""Login with rate limiting. Failed attempts are rows (``LoginAttempt``), so the limit holds
across every web process and survives restarts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy
from django.utils import timezone

from itline.core.models import LoginAttempt


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy REMOTE_ADDR is the proxy; deployments set BEHIND_PROXY and the proxy
    # overwrites X-Forwarded-For, so its first entry is the client.
    if getattr(settings, "USE_X_FORWARDED_HOST", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def is_rate_limited(username: str, ip: str | None) -> bool:
    since = timezone.now() - timedelta(seconds=settings.LOGIN_RATE_WINDOW)
    cond = Q(username__iexact=username)
    if ip:
        # An address gets more room than a username: offices share one address.
        by_ip = LoginAttempt.objects.filter(ip=ip, at__gte=since).count()
        if by_ip >= settings.LOGIN_RATE_LIMIT * 4:
            return True
    return LoginAttempt.objects.filter(cond, at__gte=since).count() >= settings.LOGIN_RATE_LIMIT


class RateLimitedAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "rate_limited": (
            "Too many failed sign-in attempts. Wait %(minutes)d minutes and try again, or "
            "reset your password."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = (self.data.get("username") or "").strip()[:150]
        ip = client_ip(self.request) if self.request else None
        if username and is_rate_limited(username, ip):
            self.rate_limited = True
            raise self.get_invalid_login_error_rate_limited()
        try:
            return super().clean()
        except Exception:
            if username:
                LoginAttempt.objects.create(username=username, ip=ip)
            raise

    def get_invalid_login_error_rate_limited(self) -> Any:
        from django.core.exceptions import ValidationError

        return ValidationError(
            self.error_messages["rate_limited"],
            code="rate_limited",
            params={"minutes": max(1, settings.LOGIN_RATE_WINDOW // 60)},
        )


class InvitingPasswordResetForm(PasswordResetForm):
    """Also mails active logins that have no password yet: logins created by an administrator
    or ``itline createuser`` without a password set their first one through this link."""

    def get_users(self, email: str) -> Any:
        model = get_user_model()
        field = model.get_email_field_name()
        users = model._default_manager.filter(**{f"{field}__iexact": email, "is_active": True})
        return (u for u in users if (getattr(u, field) or "").casefold() == email.casefold())

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Reset links point at SITE_URL, never at whatever Host header the request carried.
        site = urlparse(settings.SITE_URL)
        kwargs["domain_override"] = site.netloc
        kwargs["use_https"] = site.scheme == "https"
        super().save(*args, **kwargs)


def password_reset_view() -> Any:
    return auth_views.PasswordResetView.as_view(
        form_class=InvitingPasswordResetForm,
        template_name="core/password_reset.html",
        email_template_name="core/email/password_reset.txt",
        subject_template_name="core/email/password_reset_subject.txt",
        success_url=reverse_lazy("password_reset_done"),
    )


class LoginView(auth_views.LoginView):
    form_class = RateLimitedAuthenticationForm
    template_name = "core/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        LoginAttempt.objects.filter(username__iexact=form.get_user().get_username()).delete()
        return super().form_valid(form)

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "rate_limited", False):
            response.status_code = 429
        return response
