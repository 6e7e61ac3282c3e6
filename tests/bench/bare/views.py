"""One POST inserting one row (201 with it as JSON), one GET reading one row, and the liveness
probe run.py waits for."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Row


class RowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(read_only=True)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)
    created_at = serializers.DateTimeField(read_only=True)


class RowCreateApi(APIView):
    def post(self, request: Request) -> Response:
        data = RowSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = Row.objects.create(note=data.validated_data.get("note", ""))
        return Response(RowSerializer(row).data, status=status.HTTP_201_CREATED)


class RowDetailApi(APIView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(RowSerializer(get_object_or_404(Row, pk=pk)).data)


def live(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
