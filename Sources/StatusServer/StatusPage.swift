/// The live page: one self-contained HTML file (no network access but to its own server) that
/// polls `/status.json` every second and redraws.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>emfleet status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1040px;color:#1b1f24;padding:0 16px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:22px 0 8px}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px;font-size:12px}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;background:#2563eb}
.state.done{background:#16a34a}.state.failed{background:#dc2626}
.bar{height:14px;background:#e5e7eb;border-radius:7px;overflow:hidden;margin:6px 0}
.bar>div{height:100%;background:#2563eb;width:0;transition:width .3s}
.row{display:flex;gap:28px;flex-wrap:wrap}.kv{min-width:120px}.kv b{display:block;font-size:18px}
.kv span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;font-size:13px}
th{color:#6b7280;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.lost td{color:#9ca3af;text-decoration:line-through}tr.lost td.st{text-decoration:none;color:#dc2626;font-weight:600}
svg{background:#fafafa;border:1px solid #e5e7eb;border-radius:4px}
#note{color:#6b7280;font-size:12px}
</style></head>
<body>
<h1>emfleet <span id="command">…</span> <span id="state" class="state">connecting</span></h1>
<div><code id="arguments"></code></div>
<h2>Progress</h2>
<div class="bar"><div id="bar"></div></div>
<div id="progress">…</div>
<h2 id="charttitle">Objective per iteration</h2>
<svg id="chart" width="1000" height="260" viewBox="0 0 1000 260" role="img" aria-label="objective per iteration"></svg>
<h2>Cluster</h2>
<div class="row">
<div class="kv"><b id="rounds">0</b><span>rounds</span></div>
<div class="kv"><b id="computed">0</b><span>shard results</span></div>
<div class="kv"><b id="moved">0</b><span>shards moved</span></div>
<div class="kv"><b id="dropped">0</b><span>results dropped</span></div>
<div class="kv"><b id="sent">0</b><span>sent</span></div>
<div class="kv"><b id="received">0</b><span>received</span></div>
</div>
<h2>Workers</h2>
<table><thead><tr><th>#</th><th>host</th><th>pid</th><th>name</th><th>state</th><th>kernel</th><th class="n">threads</th><th class="n">shards</th><th class="n">last heard</th><th class="n">compute</th><th class="n">rows</th></tr></thead>
<tbody id="workers"><tr><td colspan="11">no workers (computing in this process)</td></tr></tbody></table>
<p id="report"></p>
<p id="note"></p>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
let reportURL = "";
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
function bytes(n){const u=["B","kB","MB","GB","TB"];let i=0;while(n>=1000&&i<u.length-1){n/=1000;i++}return (i?n.toFixed(1):n)+" "+u[i]}
function secs(s){if(s==null)return "–";if(s<60)return s.toFixed(1)+" s";const m=Math.floor(s/60);if(m<60)return m+" min "+Math.round(s%60)+" s";return Math.floor(m/60)+" h "+(m%60)+" min"}
function chart(points, name){
  const svg=$("chart"),W=1000,H=260,L=80,R=12,T=12,B=34;
  svg.dataset.points=points.length;
  if(!points.length){svg.innerHTML='<text x="500" y="130" text-anchor="middle" fill="#9ca3af">no iteration yet</text>';return}
  // EM's first value is the initialisation's, often far below the rest: scaling to it would flatten
  // the curve, so the y range comes from the later points and the line is clipped to the plot.
  const xs=points.map(p=>p.index),ys=(points.length>3?points.slice(1):points).map(p=>p.value).filter(Number.isFinite);
  let x0=Math.min(...xs),x1=Math.max(...xs);if(x1===x0)x1=x0+1;
  let y0=Math.min(...ys),y1=Math.max(...ys);if(y1===y0){y0-=1;y1+=1}const pad=(y1-y0)*.06;y0-=pad;y1+=pad;
  const X=v=>L+(v-x0)/(x1-x0)*(W-L-R),Y=v=>T+(1-(v-y0)/(y1-y0))*(H-T-B);
  let g="";for(let i=0;i<=4;i++){const v=y0+(y1-y0)*i/4,y=Y(v);g+=`<line x1="${L}" x2="${W-R}" y1="${y}" y2="${y}" stroke="#e5e7eb"/><text x="${L-6}" y="${y+4}" text-anchor="end" font-size="11" fill="#6b7280">${v.toPrecision(6)}</text>`}
  for(let i=0;i<=5;i++){const v=x0+(x1-x0)*i/5,x=X(v);g+=`<text x="${x}" y="${H-12}" text-anchor="middle" font-size="11" fill="#6b7280">${Math.round(v)}</text>`}
  const d=points.filter(p=>Number.isFinite(p.value)).map((p,i)=>(i?"L":"M")+X(p.index).toFixed(1)+" "+Y(p.value).toFixed(1)).join("");
  const dots=points.length<=200?points.filter(p=>Number.isFinite(p.value)).map(p=>`<circle class="point" cx="${X(p.index).toFixed(1)}" cy="${Y(p.value).toFixed(1)}" r="2.5" fill="#2563eb"/>`).join(""):"";
  svg.innerHTML=g+`<clipPath id="plot"><rect x="${L}" y="${T}" width="${W-L-R}" height="${H-T-B}"/></clipPath><g clip-path="url(#plot)"><path id="line" d="${d}" fill="none" stroke="#2563eb" stroke-width="2"/>`+dots+`</g>`+`<text x="${W-R}" y="${T+12}" text-anchor="end" font-size="12" fill="#374151">${esc(name||"")}</text>`;
}
function draw(s){
  $("command").textContent=s.job.command;
  $("arguments").textContent=s.job.arguments.join(" ");
  const st=$("state");st.textContent=s.job.state;st.className="state "+s.job.state;
  const p=s.progress;
  let frac=p.maxSteps?Math.min(1,p.steps/p.maxSteps):(p.shards?p.roundShardsDone/p.shards:0);
  if(s.job.state==="done")frac=1;
  $("bar").style.width=(100*frac).toFixed(1)+"%";
  const what=s.objective==="loss"?"epoch":s.objective==="bic"?"candidate":"iteration";
  $("progress").textContent=`${what} ${p.steps}${p.maxSteps?" of at most "+p.maxSteps:""} · round ${p.rounds}`+(p.shards?` (${p.roundShardsDone}/${p.shards} shards)`:"")
    +` · ${secs(s.job.elapsedSeconds)} elapsed`+(p.etaSeconds!=null?` · at most ${secs(p.etaSeconds)} left`:"")+(s.job.message?" · "+s.job.message:"");
  const names={log_likelihood:"mean log-likelihood",inertia:"inertia",loss:"loss",bic:"BIC"};
  $("charttitle").textContent=(names[s.objective]||"objective")+" per "+what;
  chart(s.points, names[s.objective]);
  $("rounds").textContent=p.rounds;$("computed").textContent=s.shardsComputed;$("moved").textContent=s.shardsMoved;
  const dropped=Object.values(s.resultsDropped).reduce((a,b)=>a+b,0);
  $("dropped").textContent=dropped;$("dropped").title=Object.entries(s.resultsDropped).map(([k,v])=>k+": "+v).join(", ");
  $("sent").textContent=bytes(s.bytesSent);$("received").textContent=bytes(s.bytesReceived);
  if(s.workers.length){
    $("workers").innerHTML=s.workers.map(w=>`<tr class="worker ${w.state}" data-shards="${w.shards}"><td>${w.id}</td><td>${esc(w.host)}</td><td>${w.pid}</td><td>${esc(w.name)}</td><td class="st">${w.state}</td><td>${esc(w.kernel)}</td><td class="n">${w.threads}</td><td class="n">${w.shards}</td><td class="n">${w.state==="lost"?"–":secs(w.secondsSinceHeard)+" ago"}</td><td class="n">${secs(w.computeSeconds)}</td><td class="n">${w.rows.toLocaleString("en")}</td></tr>`).join("");
  }
  if(s.job.report&&s.job.state!=="running"&&!reportURL){
    reportURL="pending";
    fetch("report/index.html"+(token?"?token="+encodeURIComponent(token):""),{cache:"no-store",headers:token?{Authorization:"Bearer "+token}:{}})
      .then(r=>{if(!r.ok)throw new Error("HTTP "+r.status);return r.blob();})
      .then(b=>{reportURL=URL.createObjectURL(b);$("report").innerHTML=`Report: <a id="report-link" href="${reportURL}" target="_blank">${esc(s.job.report)}/index.html</a> (a copy kept by this page)`;})
      .catch(()=>{reportURL="";});
  }
  if(!s.job.report)$("report").innerHTML="";
}
async function poll(){
  try{
    const r=await fetch("status.json"+(token?"?token="+encodeURIComponent(token):""),{cache:"no-store",headers:token?{Authorization:"Bearer "+token}:{}});
    if(!r.ok)throw new Error("HTTP "+r.status);
    const s=await r.json();draw(s);$("note").textContent="updated "+new Date().toLocaleTimeString();
    if(s.job.state!=="running"){$("note").textContent="the job has ended";return}
  }catch(e){$("note").textContent="the job's server does not answer ("+e.message+"); it may have ended"}
  setTimeout(poll,1000);
}
poll();
</script>
</body></html>
"""#
}
