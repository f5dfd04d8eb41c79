from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("new/", views.chat_new, name="new"),
    path("<uuid:conversation_id>/", views.chat_conversation, name="conversation"),
]
