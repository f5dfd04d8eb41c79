from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.pagination import ApiPagination
from accounts.api.permissions import KeyScopeRequired, requires
from accounts.http import client_ip
from accounts.models import ApiKey, ApiKeyScope, Role
from accounts.permissions import Capability, access_api_key, capabilities_of
from accounts.policies import policy_for

NO_KEYS_FOR_ROLE = "Your role does not allow API keys."


class PolicySerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    allowed_models = serializers.ListField(child=serializers.CharField(), help_text="Empty: every model.")
    allowed_presets = serializers.ListField(
        child=serializers.CharField(), help_text="Slugs of the presets you may use. Empty: every preset you can see."
    )
    daily_token_budget = serializers.IntegerField()
    requests_per_minute = serializers.IntegerField()
    max_upload_bytes = serializers.IntegerField()
    max_documents = serializers.IntegerField()
    web_access = serializers.BooleanField()
    answer_cache = serializers.BooleanField(help_text="Repeated deterministic requests may be answered from the cache.")
    semantic_cache = serializers.BooleanField(help_text="Single-turn questions that mean the same may be too.")


class MeView(APIView):
    class MeOutput(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices)
        capabilities = serializers.ListField(child=serializers.CharField())
        policy = PolicySerializer()

    @extend_schema(responses=MeOutput, summary="The calling user, their role and effective policy")
    def get(self, request: Request) -> Response:
        user = request.user
        data = {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "role": user.role,
            "capabilities": sorted(capabilities_of(user)),
            "policy": policy_for(user).as_dict(),
        }
        return Response(self.MeOutput(data).data)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ApiKeyListCreateView(APIView):
    permission_classes = [IsAuthenticated, KeyScopeRequired, requires(Capability.API_KEYS, NO_KEYS_FOR_ROLE)]
    # Listing needs `read`; creating needs no scope of its own, but a key may only mint keys within its own scopes.
    required_scopes = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ, "POST": None}
    pagination_class = ApiPagination

    class ApiKeyCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=ApiKeyScope.choices),
            allow_empty=False,
            max_length=len(ApiKeyScope.values),
        )
        expires_in_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)

    class ApiKeyCreatedOutput(ApiKeySerializer):
        secret = serializers.CharField(help_text="The key itself. Shown only in this response.")

        class Meta(ApiKeySerializer.Meta):
            fields = [*ApiKeySerializer.Meta.fields, "secret"]

    @extend_schema(responses=ApiKeySerializer(many=True), summary="Your API keys (never their secrets)")
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.api_key_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(request=ApiKeyCreateInput, responses={201: ApiKeyCreatedOutput}, summary="Create an API key")
    def post(self, request: Request) -> Response:
        serializer = self.ApiKeyCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if isinstance(request.auth, ApiKey) and not set(data["scopes"]) <= set(request.auth.scopes):
            self.permission_denied(request, message="An API key can only create keys within its own scopes.")
        api_key, secret = services.api_key_create(
            user=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_in_days=data.get("expires_in_days"),
            ip=client_ip(request),
        )
        api_key.secret = secret
        return Response(self.ApiKeyCreatedOutput(api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    permission_classes = [IsAuthenticated, KeyScopeRequired, requires(Capability.API_KEYS, NO_KEYS_FOR_ROLE)]
    # Any key of the owner may revoke: revoking only ever takes access away.
    required_scopes = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ, "DELETE": None}

    @extend_schema(responses=ApiKeySerializer, summary="One of your API keys")
    def get(self, request: Request, key_id: int) -> Response:
        return Response(ApiKeySerializer(access_api_key(request.user, key_id)).data)

    @extend_schema(responses={204: None}, summary="Revoke an API key (it stops working at once)")
    def delete(self, request: Request, key_id: int) -> Response:
        api_key = access_api_key(request.user, key_id)
        services.api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
