/*
 * Clearhouse Razorpay sandbox: a stand-in for https://checkout.razorpay.com/v1/checkout.js.
 *
 *   var rzp = new Razorpay(options);
 *   rzp.on('payment.failed', function (response) { ... response.error ... });
 *   rzp.open();
 *
 * open() shows an in-page card form; on submit the card goes to the sandbox (never to the page's
 * own server). Success: the modal closes and options.handler gets razorpay_payment_id,
 * razorpay_order_id and razorpay_signature. Failure: 'payment.failed' callbacks get {error: ...}
 * and the modal shows the description. Options customer_id, save and recurring are passed on:
 * with a customer and save (or recurring) on, an authorized payment saves the card as a token.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/checkout\.js(\?.*)?$/, "") : "/sandbox/razorpay";
  var PAY_URL = base + "/checkout/v1/payments";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "style") {
        node.style.cssText = attrs[key];
      } else if (key === "text") {
        node.textContent = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function formatAmount(amount, currency) {
    var value = (Number(amount) || 0) / 100;
    return (currency || "INR") + " " + value.toFixed(2);
  }

  function field(id, label, attrs) {
    var input = el("input", Object.assign({ id: id, name: id, style: "display:block;width:100%;box-sizing:border-box;padding:8px;margin:4px 0 10px;border:1px solid #ccc;border-radius:4px;font-size:15px" }, attrs));
    return el("label", { "for": id, style: "display:block;font-size:13px;color:#444", text: label }, [input]);
  }

  function Razorpay(options) {
    if (!(this instanceof Razorpay)) { return new Razorpay(options); }
    if (!options || !options.key) { throw new Error("Razorpay: options.key is required"); }
    this.options = options;
    this.callbacks = {};
    this.overlay = null;
  }

  Razorpay.prototype.on = function (event, callback) {
    (this.callbacks[event] = this.callbacks[event] || []).push(callback);
    return this;
  };

  Razorpay.prototype.emit = function (event, payload) {
    (this.callbacks[event] || []).forEach(function (callback) { callback(payload); });
  };

  Razorpay.prototype.close = function () {
    if (this.overlay && this.overlay.parentNode) { this.overlay.parentNode.removeChild(this.overlay); }
    this.overlay = null;
  };

  Razorpay.prototype.open = function () {
    var self = this;
    var options = this.options;
    var prefill = options.prefill || {};
    this.close();

    var error = el("div", { id: "rzp-error", role: "alert", style: "color:#b00020;min-height:1.2em;margin:6px 0;font-size:13px" });
    var pay = el("button", { id: "rzp-pay", type: "submit", style: "width:100%;padding:10px;background:#3395ff;color:#fff;border:0;border-radius:4px;font-size:15px;cursor:pointer", text: "Pay " + formatAmount(options.amount, options.currency) });
    var closeButton = el("button", { id: "rzp-close", type: "button", "aria-label": "Close", style: "float:right;border:0;background:none;font-size:20px;cursor:pointer", text: "\u00d7" });
    var form = el("form", { id: "rzp-form", autocomplete: "off", novalidate: "novalidate" }, [
      field("rzp-card-number", "Card number", { inputmode: "numeric", autocomplete: "cc-number", placeholder: "4100 2800 0000 1007" }),
      field("rzp-card-expiry", "Expiry (MM/YY)", { autocomplete: "cc-exp", placeholder: "MM/YY" }),
      field("rzp-card-cvv", "CVV", { inputmode: "numeric", autocomplete: "cc-csc", type: "password", maxlength: "4" }),
      field("rzp-card-name", "Name on card", { autocomplete: "cc-name", value: prefill.name || "" }),
      error,
      pay,
    ]);
    var header = el("div", { style: "margin-bottom:12px" }, [
      closeButton,
      el("div", { style: "font-weight:bold;font-size:17px", text: options.name || "Razorpay sandbox" }),
      el("div", { style: "color:#666;font-size:13px", text: options.description || "" }),
      el("div", { style: "margin-top:4px;font-size:15px", text: formatAmount(options.amount, options.currency) }),
    ]);
    var dialog = el("div", { id: "rzp-modal", role: "dialog", "aria-modal": "true", style: "background:#fff;width:340px;max-width:92vw;margin:8vh auto;padding:20px;border-radius:8px;font-family:sans-serif;box-shadow:0 8px 30px rgba(0,0,0,.3)" }, [header, form]);
    this.overlay = el("div", { id: "rzp-overlay", style: "position:fixed;inset:0;background:rgba(0,0,0,.55);z-index:2147483647;overflow:auto" }, [dialog]);
    document.body.appendChild(this.overlay);

    closeButton.addEventListener("click", function () {
      self.close();
      if (options.modal && typeof options.modal.ondismiss === "function") { options.modal.ondismiss(); }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var expiry = document.getElementById("rzp-card-expiry").value.split("/");
      var body = {
        key_id: options.key,
        order_id: options.order_id,
        card: {
          number: document.getElementById("rzp-card-number").value.replace(/\s+/g, ""),
          expiry_month: (expiry[0] || "").trim(),
          expiry_year: (expiry[1] || "").trim(),
          cvv: document.getElementById("rzp-card-cvv").value,
          name: document.getElementById("rzp-card-name").value,
        },
        email: prefill.email || "",
        contact: prefill.contact || "",
      };
      // Saved cards: Checkout's customer_id, save and recurring options go with the card.
      if (options.customer_id) { body.customer_id = options.customer_id; }
      if (options.save !== undefined) { body.save = options.save; }
      if (options.recurring !== undefined) { body.recurring = options.recurring; }
      error.textContent = "";
      pay.disabled = true;
      fetch(PAY_URL, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          pay.disabled = false;
          if (data && data.razorpay_payment_id && data.razorpay_signature) {
            self.close();
            if (typeof options.handler === "function") { options.handler(data); }
            return;
          }
          var failure = (data && data.error) || { code: "BAD_REQUEST_ERROR", description: "Payment failed" };
          failure.metadata = failure.metadata || {};
          if (!failure.metadata.order_id) { failure.metadata.order_id = options.order_id; }
          error.textContent = failure.description;
          self.emit("payment.failed", { error: failure });
        })
        .catch(function () {
          pay.disabled = false;
          var failure = {
            code: "SERVER_ERROR", description: "Could not reach the payment server. Please try again.",
            source: "internal", step: "payment_initiation", reason: "server_error",
            metadata: { order_id: options.order_id },
          };
          error.textContent = failure.description;
          self.emit("payment.failed", { error: failure });
        });
    });
    document.getElementById("rzp-card-number").focus();
  };

  window.Razorpay = Razorpay;
})();
