"""The Razorpay sandbox: a local emulator of Razorpay's REST API (orders, payments, refunds), of
Checkout (a stand-in checkout.js) and of its webhooks, that the official `razorpay` SDK runs
against unmodified. See docs in /work/shared/gateway-facts.md, section 2.
"""
